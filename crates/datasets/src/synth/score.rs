//! From a plan to notes: harmony (one chord per bar), melody, accompaniment patterns, bass
//! lines and drum patterns, all placed on the metrical grid so the meter is audible.

use rand::{Rng, RngExt};

use super::plan::{Instrument, Meter, Style, TrackPlan};

/// One note (or drum hit) in seconds; `pitch` is a MIDI number (drums: see [`Drum`]).
#[derive(Debug, Clone, Copy)]
pub struct Note {
    pub start: f64,
    pub duration: f64,
    pub pitch: f64,
    pub velocity: f32,
}

/// Drum sounds, encoded as the `pitch` of drum notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drum {
    Kick = 0,
    Snare = 1,
    HiHat = 2,
    Ride = 3,
}

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];

/// The metrical grid of a track.
pub struct Grid {
    pub beat: f64,
    pub subdivisions: usize,
    pub beats_per_bar: usize,
    pub bars: usize,
    swing: f64,
}

impl Grid {
    pub fn new(plan: &TrackPlan, total_seconds: f64) -> Self {
        // The drawn tempo is the beat rate; in compound meter the beat is the dotted note.
        let beat = plan.seconds_per_beat();
        let bar = beat * plan.meter.beats_per_bar() as f64;
        Self {
            beat,
            subdivisions: plan.meter.subdivisions(),
            beats_per_bar: plan.meter.beats_per_bar(),
            bars: (total_seconds / bar).ceil() as usize + 1,
            swing: plan.swing,
        }
    }

    pub fn bar_length(&self) -> f64 {
        self.beat * self.beats_per_bar as f64
    }

    /// Start time of (bar, beat, sub-beat), with swing delaying off-beats.
    pub fn time(&self, bar: usize, beat: usize, sub: usize) -> f64 {
        let sub_len = self.beat / self.subdivisions as f64;
        let swing = if sub % 2 == 1 {
            self.swing * sub_len
        } else {
            0.0
        };
        bar as f64 * self.bar_length() + beat as f64 * self.beat + sub as f64 * sub_len + swing
    }

    pub fn sub_length(&self) -> f64 {
        self.beat / self.subdivisions as f64
    }

    /// Metrical weight: downbeat 1, other beats 0.7 (compound's second beat 0.8), off-beats 0.5.
    pub fn accent(&self, beat: usize, sub: usize) -> f32 {
        match (beat, sub) {
            (0, 0) => 1.0,
            (_, 0) if self.beats_per_bar == 2 => 0.8,
            (_, 0) => 0.7,
            _ => 0.5,
        }
    }
}

/// Pitches of the track's key.
pub struct Harmony {
    tonic: i32,
    scale: [i32; 7],
    progression: Vec<usize>,
}

impl Harmony {
    pub fn new(plan: &TrackPlan) -> Self {
        Self {
            tonic: i32::from(plan.key),
            scale: if plan.minor { MINOR } else { MAJOR },
            progression: plan.progression.clone(),
        }
    }

    /// MIDI pitch of scale degree `degree` (any integer) above the tonic in `octave`.
    pub fn degree_pitch(&self, degree: i32, octave: i32) -> i32 {
        let (o, d) = (degree.div_euclid(7), degree.rem_euclid(7));
        12 * (octave + o + 1) + self.tonic + self.scale[d as usize]
    }

    /// Root degree of the chord in `bar`.
    pub fn chord_root(&self, bar: usize) -> i32 {
        self.progression[bar % self.progression.len()] as i32
    }

    /// Triad of the chord in `bar`, voiced in `octave`.
    pub fn triad(&self, bar: usize, octave: i32) -> [i32; 3] {
        let r = self.chord_root(bar);
        [0, 2, 4].map(|step| self.degree_pitch(r + step, octave))
    }
}

/// The notes of one part.
pub fn part_notes<R: Rng + ?Sized>(
    instrument: Instrument,
    plan: &TrackPlan,
    grid: &Grid,
    harmony: &Harmony,
    leads_melody: bool,
    rng: &mut R,
) -> Vec<Note> {
    match instrument {
        Instrument::Drums => drum_pattern(plan, grid, rng),
        Instrument::Bass => bass_line(plan, grid, harmony, rng),
        Instrument::Piano => comping(plan, grid, harmony, rng, 4),
        Instrument::AcousticGuitar => strums(grid, harmony, plan.density, rng),
        Instrument::ElectricGuitar => power_chords(grid, harmony, plan.density, rng),
        Instrument::StringEnsemble
        | Instrument::Organ
        | Instrument::SynthPad
        | Instrument::Choir => sustained_chords(
            grid,
            harmony,
            if instrument == Instrument::SynthPad {
                4
            } else {
                3
            },
        ),
        Instrument::Brass if !leads_melody => stabs(grid, harmony, plan.density, rng),
        Instrument::Flute | Instrument::SynthLead | Instrument::LeadVocals | Instrument::Brass => {
            let octave = match instrument {
                Instrument::Flute => 5,
                Instrument::LeadVocals => 4,
                _ => 4,
            };
            melody(plan, grid, harmony, octave, rng)
        }
    }
}

fn note(start: f64, duration: f64, pitch: i32, velocity: f32) -> Note {
    Note {
        start,
        duration,
        pitch: f64::from(pitch),
        velocity,
    }
}

fn melody<R: Rng + ?Sized>(
    plan: &TrackPlan,
    grid: &Grid,
    harmony: &Harmony,
    octave: i32,
    rng: &mut R,
) -> Vec<Note> {
    let mut notes = Vec::new();
    let mut degree: i32 = rng.random_range(0..5);
    for bar in 0..grid.bars {
        for beat in 0..grid.beats_per_bar {
            for sub in 0..grid.subdivisions {
                let accent = grid.accent(beat, sub);
                let p = plan.density * f64::from(accent).powf(0.7);
                if !rng.random_bool(p.clamp(0.0, 1.0)) {
                    continue;
                }
                // Strong beats prefer chord tones; weak ones step.
                if sub == 0 && rng.random_bool(0.6) {
                    let root = harmony.chord_root(bar);
                    degree = root + [0, 2, 4][rng.random_range(0..3)] + 7 * (degree.div_euclid(7));
                } else {
                    degree += [-2, -1, -1, 1, 1, 2][rng.random_range(0..6)];
                }
                degree = degree.clamp(-3, 10);
                let length = grid.sub_length() * rng.random_range(1..=grid.subdivisions) as f64;
                notes.push(note(
                    grid.time(bar, beat, sub),
                    length,
                    harmony.degree_pitch(degree, octave),
                    accent,
                ));
            }
        }
    }
    if plan.style == Style::Ambient {
        // Ambient melodies are slower: keep every other note, held longer.
        notes = notes
            .into_iter()
            .step_by(2)
            .map(|n| Note {
                duration: n.duration * 2.0,
                ..n
            })
            .collect();
    }
    notes
}

fn comping<R: Rng + ?Sized>(
    plan: &TrackPlan,
    grid: &Grid,
    harmony: &Harmony,
    rng: &mut R,
    octave: i32,
) -> Vec<Note> {
    let mut notes = Vec::new();
    let arpeggiate = plan.style == Style::Classical && rng.random_bool(0.6);
    for bar in 0..grid.bars {
        let triad = harmony.triad(bar, octave);
        let bass = harmony.degree_pitch(harmony.chord_root(bar), octave - 1);
        for beat in 0..grid.beats_per_bar {
            if arpeggiate {
                for sub in 0..grid.subdivisions {
                    let i = beat * grid.subdivisions + sub;
                    let pitch = if i == 0 { bass } else { triad[i % 3] };
                    notes.push(note(
                        grid.time(bar, beat, sub),
                        grid.sub_length() * 2.0,
                        pitch,
                        grid.accent(beat, sub),
                    ));
                }
            } else if beat == 0 || rng.random_bool(plan.density) {
                let accent = grid.accent(beat, 0);
                if beat == 0 {
                    notes.push(note(grid.time(bar, 0, 0), grid.beat * 1.5, bass, accent));
                }
                for &p in &triad {
                    notes.push(note(
                        grid.time(bar, beat, 0),
                        grid.beat * 0.9,
                        p,
                        accent * 0.8,
                    ));
                }
            }
        }
    }
    notes
}

fn strums<R: Rng + ?Sized>(grid: &Grid, harmony: &Harmony, density: f64, rng: &mut R) -> Vec<Note> {
    let mut notes = Vec::new();
    for bar in 0..grid.bars {
        let root = harmony.degree_pitch(harmony.chord_root(bar), 2);
        let triad = harmony.triad(bar, 3);
        let shape = [
            root,
            triad[0],
            triad[1],
            triad[2],
            triad[0] + 12,
            triad[1] + 12,
        ];
        for beat in 0..grid.beats_per_bar {
            for sub in 0..grid.subdivisions {
                if sub != 0 && !rng.random_bool(density * 0.6) {
                    continue;
                }
                let start = grid.time(bar, beat, sub);
                let accent = grid.accent(beat, sub);
                let down = sub % 2 == 0;
                for (k, &p) in shape.iter().enumerate() {
                    // A strum: strings sound one after another, downwards or upwards.
                    let order = if down { k } else { shape.len() - 1 - k };
                    notes.push(note(
                        start + order as f64 * 0.012,
                        grid.beat * 1.5,
                        p,
                        accent,
                    ));
                }
            }
        }
    }
    notes
}

fn power_chords<R: Rng + ?Sized>(
    grid: &Grid,
    harmony: &Harmony,
    density: f64,
    rng: &mut R,
) -> Vec<Note> {
    let mut notes = Vec::new();
    for bar in 0..grid.bars {
        let root = harmony.degree_pitch(harmony.chord_root(bar), 2);
        for beat in 0..grid.beats_per_bar {
            for sub in 0..grid.subdivisions {
                if sub != 0 && !rng.random_bool(0.3 + 0.6 * density) {
                    continue;
                }
                let accent = grid.accent(beat, sub);
                for p in [root, root + 7, root + 12] {
                    notes.push(note(
                        grid.time(bar, beat, sub),
                        grid.sub_length() * 0.9,
                        p,
                        accent,
                    ));
                }
            }
        }
    }
    notes
}

fn sustained_chords(grid: &Grid, harmony: &Harmony, octave: i32) -> Vec<Note> {
    let mut notes = Vec::new();
    for bar in 0..grid.bars {
        for p in harmony.triad(bar, octave) {
            notes.push(note(grid.time(bar, 0, 0), grid.bar_length() * 1.02, p, 1.0));
        }
    }
    notes
}

fn stabs<R: Rng + ?Sized>(grid: &Grid, harmony: &Harmony, density: f64, rng: &mut R) -> Vec<Note> {
    let mut notes = Vec::new();
    for bar in 0..grid.bars {
        for beat in 0..grid.beats_per_bar {
            if beat == 0 || rng.random_bool(density * 0.4) {
                for p in harmony.triad(bar, 4) {
                    notes.push(note(
                        grid.time(bar, beat, 0),
                        grid.beat * 0.5,
                        p,
                        grid.accent(beat, 0),
                    ));
                }
            }
        }
    }
    notes
}

fn bass_line<R: Rng + ?Sized>(
    plan: &TrackPlan,
    grid: &Grid,
    harmony: &Harmony,
    rng: &mut R,
) -> Vec<Note> {
    let mut notes = Vec::new();
    for bar in 0..grid.bars {
        let root = harmony.chord_root(bar);
        let next = harmony.chord_root(bar + 1);
        let pitch = |d: i32| harmony.degree_pitch(d, 1);
        match (plan.style, plan.meter) {
            // Walking bass: a note on every beat, stepping towards the next chord's root.
            (Style::Jazz, _) => {
                for beat in 0..grid.beats_per_bar {
                    let remaining = (grid.beats_per_bar - beat) as i32;
                    let d = if beat == 0 {
                        root
                    } else {
                        next + (remaining - 1) * if rng.random_bool(0.5) { 1 } else { -1 }
                    };
                    notes.push(note(
                        grid.time(bar, beat, 0),
                        grid.beat * 0.95,
                        pitch(d),
                        grid.accent(beat, 0),
                    ));
                }
            }
            (_, Meter::Duple) => {
                notes.push(note(
                    grid.time(bar, 0, 0),
                    grid.beat * 1.5,
                    pitch(root),
                    1.0,
                ));
                notes.push(note(
                    grid.time(bar, 2, 0),
                    grid.beat * 1.5,
                    pitch(root + 4),
                    0.8,
                ));
                if plan.style == Style::Electronic || rng.random_bool(plan.density * 0.7) {
                    for beat in [1, 3] {
                        notes.push(note(
                            grid.time(bar, beat, 1),
                            grid.sub_length(),
                            pitch(root),
                            0.6,
                        ));
                    }
                }
            }
            (_, Meter::Triple) => {
                notes.push(note(
                    grid.time(bar, 0, 0),
                    grid.beat * 2.5,
                    pitch(root),
                    1.0,
                ));
            }
            (_, Meter::Compound) => {
                notes.push(note(
                    grid.time(bar, 0, 0),
                    grid.beat * 0.9,
                    pitch(root),
                    1.0,
                ));
                notes.push(note(
                    grid.time(bar, 1, 0),
                    grid.beat * 0.9,
                    pitch(root + 4),
                    0.8,
                ));
            }
        }
    }
    notes
}

fn hit(start: f64, drum: Drum, velocity: f32) -> Note {
    Note {
        start,
        duration: 0.3,
        pitch: f64::from(drum as u8),
        velocity,
    }
}

fn drum_pattern<R: Rng + ?Sized>(plan: &TrackPlan, grid: &Grid, rng: &mut R) -> Vec<Note> {
    let mut notes = Vec::new();
    let cymbal = if plan.style == Style::Jazz {
        Drum::Ride
    } else {
        Drum::HiHat
    };
    for bar in 0..grid.bars {
        for beat in 0..grid.beats_per_bar {
            for sub in 0..grid.subdivisions {
                let t = grid.time(bar, beat, sub);
                let accent = grid.accent(beat, sub);
                notes.push(hit(t, cymbal, 0.4 + 0.4 * accent));
                if sub != 0 {
                    continue;
                }
                let (kick, snare) = match plan.meter {
                    Meter::Duple if plan.style == Style::Electronic => (true, beat % 2 == 1),
                    Meter::Duple => (beat % 2 == 0, beat % 2 == 1),
                    Meter::Triple => (beat == 0, beat != 0),
                    Meter::Compound => (beat == 0, beat == 1),
                };
                if kick {
                    notes.push(hit(t, Drum::Kick, accent));
                }
                if snare {
                    notes.push(hit(t, Drum::Snare, 0.6 + 0.3 * accent));
                }
            }
        }
        // An occasional fill on the last beat of every fourth bar.
        if bar % 4 == 3 && rng.random_bool(plan.density) {
            let last = grid.beats_per_bar - 1;
            for sub in 0..grid.subdivisions {
                notes.push(hit(grid.time(bar, last, sub), Drum::Snare, 0.7));
            }
        }
    }
    notes
}
