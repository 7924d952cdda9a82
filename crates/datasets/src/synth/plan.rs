//! The musical plan of one synthetic track: everything random is drawn here, from
//! (corpus seed, track index) alone, and the clean labels follow from it by construction.

use rand::{Rng, RngExt};

/// Musical styles, with their (imbalanced) prior.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Classical,
    Electronic,
    Rock,
    Jazz,
    Folk,
    Ambient,
}

impl Style {
    pub const ALL: [Style; 6] = [
        Style::Classical,
        Style::Electronic,
        Style::Rock,
        Style::Jazz,
        Style::Folk,
        Style::Ambient,
    ];
    const PRIOR: [f64; 6] = [0.26, 0.22, 0.2, 0.11, 0.13, 0.08];

    pub fn tag(self) -> &'static str {
        match self {
            Style::Classical => "classical",
            Style::Electronic => "electronic",
            Style::Rock => "rock",
            Style::Jazz => "jazz",
            Style::Folk => "folk",
            Style::Ambient => "ambient",
        }
    }

    /// Tempo range in beats per minute.
    fn tempo(self) -> (f64, f64) {
        match self {
            Style::Classical => (50.0, 140.0),
            Style::Electronic => (112.0, 145.0),
            Style::Rock => (85.0, 165.0),
            Style::Jazz => (80.0, 210.0),
            Style::Folk => (70.0, 135.0),
            Style::Ambient => (40.0, 85.0),
        }
    }

    /// Probabilities of duple, triple and compound meter.
    fn meter(self) -> [f64; 3] {
        match self {
            Style::Classical => [0.5, 0.3, 0.2],
            Style::Electronic => [0.94, 0.03, 0.03],
            Style::Rock => [0.8, 0.06, 0.14],
            Style::Jazz => [0.7, 0.2, 0.1],
            Style::Folk => [0.5, 0.25, 0.25],
            Style::Ambient => [0.6, 0.3, 0.1],
        }
    }

    fn minor_probability(self) -> f64 {
        match self {
            Style::Classical => 0.4,
            Style::Electronic => 0.5,
            Style::Rock => 0.35,
            Style::Jazz => 0.4,
            Style::Folk => 0.4,
            Style::Ambient => 0.55,
        }
    }

    /// Probability of each instrument (in [`Instrument::ALL`] order).
    fn instruments(self) -> [f64; 13] {
        //      piano strings flute brass a.gtr e.gtr organ pad  lead bass drums vocal choir
        match self {
            Style::Classical => [
                0.55, 0.8, 0.4, 0.3, 0.05, 0.0, 0.12, 0.0, 0.0, 0.25, 0.03, 0.08, 0.22,
            ],
            Style::Electronic => [
                0.15, 0.05, 0.0, 0.03, 0.0, 0.03, 0.05, 0.7, 0.7, 0.9, 0.95, 0.3, 0.05,
            ],
            Style::Rock => [
                0.2, 0.05, 0.0, 0.05, 0.2, 0.92, 0.2, 0.05, 0.05, 0.9, 0.95, 0.6, 0.03,
            ],
            Style::Jazz => [
                0.8, 0.05, 0.2, 0.6, 0.1, 0.05, 0.1, 0.0, 0.0, 0.9, 0.8, 0.3, 0.0,
            ],
            Style::Folk => [
                0.1, 0.2, 0.3, 0.03, 0.92, 0.0, 0.03, 0.0, 0.0, 0.4, 0.25, 0.6, 0.08,
            ],
            Style::Ambient => [
                0.3, 0.3, 0.12, 0.0, 0.05, 0.0, 0.05, 0.9, 0.12, 0.2, 0.05, 0.05, 0.3,
            ],
        }
    }
}

/// Metrical organisation, audible through accents, bass and drum placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meter {
    /// 4/4: four beats, each split in two.
    Duple,
    /// 3/4: three beats, each split in two.
    Triple,
    /// 6/8: two dotted beats, each split in three.
    Compound,
}

impl Meter {
    pub fn beats_per_bar(self) -> usize {
        match self {
            Meter::Duple => 4,
            Meter::Triple => 3,
            Meter::Compound => 2,
        }
    }

    pub fn subdivisions(self) -> usize {
        match self {
            Meter::Compound => 3,
            _ => 2,
        }
    }
}

/// The 13 instruments; acoustic ones count towards `acousticness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    Piano,
    StringEnsemble,
    Flute,
    Brass,
    AcousticGuitar,
    ElectricGuitar,
    Organ,
    SynthPad,
    SynthLead,
    Bass,
    Drums,
    LeadVocals,
    Choir,
}

impl Instrument {
    pub const ALL: [Instrument; 13] = [
        Instrument::Piano,
        Instrument::StringEnsemble,
        Instrument::Flute,
        Instrument::Brass,
        Instrument::AcousticGuitar,
        Instrument::ElectricGuitar,
        Instrument::Organ,
        Instrument::SynthPad,
        Instrument::SynthLead,
        Instrument::Bass,
        Instrument::Drums,
        Instrument::LeadVocals,
        Instrument::Choir,
    ];

    pub fn tag(self) -> &'static str {
        match self {
            Instrument::Piano => "piano",
            Instrument::StringEnsemble => "string ensemble",
            Instrument::Flute => "flute",
            Instrument::Brass => "brass",
            Instrument::AcousticGuitar => "acoustic guitar",
            Instrument::ElectricGuitar => "electric guitar",
            Instrument::Organ => "organ",
            Instrument::SynthPad => "synth pad",
            Instrument::SynthLead => "synth lead",
            Instrument::Bass => "bass",
            Instrument::Drums => "drums",
            Instrument::LeadVocals => "lead vocals",
            Instrument::Choir => "choir",
        }
    }

    pub fn is_acoustic(self) -> bool {
        matches!(
            self,
            Instrument::Piano
                | Instrument::StringEnsemble
                | Instrument::Flute
                | Instrument::Brass
                | Instrument::AcousticGuitar
                | Instrument::LeadVocals
                | Instrument::Choir
        )
    }

    /// Plays the melody (rather than chords, bass or drums) when present.
    pub fn is_melodic(self) -> bool {
        matches!(
            self,
            Instrument::Flute | Instrument::SynthLead | Instrument::LeadVocals | Instrument::Brass
        )
    }
}

/// One instrument's part and its level in the mix (energy share = gain²).
#[derive(Debug, Clone)]
pub struct Part {
    pub instrument: Instrument,
    pub gain: f32,
}

/// Everything that decides how a track sounds and what its labels are.
#[derive(Debug, Clone)]
pub struct TrackPlan {
    pub style: Style,
    pub minor: bool,
    /// Pitch class of the tonic, 0 = C.
    pub key: u8,
    pub meter: Meter,
    pub bpm: f64,
    pub parts: Vec<Part>,
    /// Note density of the melody and accompaniment, 0..1.
    pub density: f64,
    /// Swing of off-beats (jazz), 0..0.33.
    pub swing: f64,
    /// Chord roots as scale degrees (0-based), one chord per bar, looped.
    pub progression: Vec<usize>,
    pub production: Production,
    pub seconds: f64,
}

/// Production noise: what a recording chain and a mixing engineer add.
#[derive(Debug, Clone)]
pub struct Production {
    pub gain_db: f64,
    /// Spectral tilt: < 0 darker, > 0 brighter.
    pub eq_tilt: f64,
    pub reverb_wet: f64,
    pub snr_db: f64,
    pub start_offset_seconds: f64,
}

impl TrackPlan {
    /// Draw a plan. Every random choice of the track happens here or in the renderer's own
    /// stream derived from the same (seed, index).
    pub fn draw<R: Rng + ?Sized>(rng: &mut R, seconds: f64) -> Self {
        let style = Style::ALL[pick(rng, &Style::PRIOR)];
        let (lo, hi) = style.tempo();
        let bpm = rng.random_range(lo..hi);
        let meter = [Meter::Duple, Meter::Triple, Meter::Compound][pick(rng, &style.meter())];
        let minor = rng.random_bool(style.minor_probability());
        let key = rng.random_range(0..12u8);
        let parts = draw_parts(rng, style);
        let density = rng.random_range(0.25..1.0);
        let swing = if style == Style::Jazz {
            rng.random_range(0.12..0.3)
        } else {
            0.0
        };
        let progression = draw_progression(rng, minor);
        let production = Production {
            gain_db: rng.random_range(-14.0..0.0),
            eq_tilt: rng.random_range(-1.0..1.0),
            reverb_wet: rng.random_range(0.0..0.35),
            snr_db: rng.random_range(8.0..40.0),
            start_offset_seconds: rng.random_range(0.0..2.0),
        };
        Self {
            style,
            minor,
            key,
            meter,
            bpm,
            parts,
            density,
            swing,
            progression,
            production,
            seconds,
        }
    }

    pub fn has(&self, instrument: Instrument) -> bool {
        self.parts.iter().any(|p| p.instrument == instrument)
    }

    pub fn seconds_per_beat(&self) -> f64 {
        60.0 / self.bpm
    }

    /// Regression truths in [0, 1], true by construction.
    pub fn tempo_value(&self) -> f64 {
        ((self.bpm - 40.0) / 180.0).clamp(0.0, 1.0)
    }

    pub fn acousticness(&self) -> f64 {
        let total: f32 = self.parts.iter().map(|p| p.gain * p.gain).sum();
        let acoustic: f32 = self
            .parts
            .iter()
            .filter(|p| p.instrument.is_acoustic())
            .map(|p| p.gain * p.gain)
            .sum();
        if total > 0.0 {
            f64::from(acoustic / total)
        } else {
            0.0
        }
    }

    /// How driven the track is: note density, drum share and harsh timbres (distortion,
    /// synth lead, brass), and faster tempi.
    pub fn energy(&self) -> f64 {
        let share = |set: &[Instrument]| -> f64 {
            let total: f32 = self.parts.iter().map(|p| p.gain * p.gain).sum();
            let part: f32 = self
                .parts
                .iter()
                .filter(|p| set.contains(&p.instrument))
                .map(|p| p.gain * p.gain)
                .sum();
            if total > 0.0 {
                f64::from(part / total)
            } else {
                0.0
            }
        };
        let drums = share(&[Instrument::Drums]);
        let harsh = share(&[
            Instrument::ElectricGuitar,
            Instrument::SynthLead,
            Instrument::Brass,
        ]);
        (0.4 * self.density
            + 0.25 * (drums * 3.0).min(1.0)
            + 0.2 * (harsh * 2.5).min(1.0)
            + 0.15 * self.tempo_value())
        .clamp(0.0, 1.0)
    }

    /// How suited to dancing: a tempo near 122 BPM, duple meter, a steady drum kit and bass.
    pub fn danceability(&self) -> f64 {
        let tempo_fit = (-((self.bpm - 122.0) / 22.0).powi(2)).exp();
        let duple = if self.meter == Meter::Duple { 1.0 } else { 0.2 };
        let drums = if self.has(Instrument::Drums) {
            1.0
        } else {
            0.0
        };
        let bass = if self.has(Instrument::Bass) { 1.0 } else { 0.0 };
        (0.35 * tempo_fit + 0.25 * duple + 0.25 * drums * (1.0 - self.swing * 1.5) + 0.15 * bass)
            .clamp(0.0, 1.0)
    }
}

/// Index drawn from unnormalised weights.
pub fn pick<R: Rng + ?Sized>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random_range(0.0..total);
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

fn draw_parts<R: Rng + ?Sized>(rng: &mut R, style: Style) -> Vec<Part> {
    let probabilities = style.instruments();
    let mut chosen: Vec<Instrument> = Instrument::ALL
        .iter()
        .zip(probabilities)
        .filter(|(_, p)| rng.random_bool(*p))
        .map(|(i, _)| *i)
        .collect();
    // At least two instruments: add the style's most likely missing ones.
    let mut by_likelihood: Vec<(Instrument, f64)> =
        Instrument::ALL.iter().copied().zip(probabilities).collect();
    by_likelihood.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (instrument, _) in by_likelihood {
        if chosen.len() >= 2 {
            break;
        }
        if !chosen.contains(&instrument) {
            chosen.push(instrument);
        }
    }
    chosen
        .into_iter()
        .map(|instrument| {
            // Levels vary by 12 dB so no single instrument is always dominant.
            let base = match instrument {
                Instrument::Drums | Instrument::Bass => 0.9,
                i if i.is_melodic() => 0.85,
                _ => 0.7,
            };
            Part {
                instrument,
                gain: base * 10f32.powf(rng.random_range(-0.3..0.3)),
            }
        })
        .collect()
}

fn draw_progression<R: Rng + ?Sized>(rng: &mut R, minor: bool) -> Vec<usize> {
    let major: [[usize; 4]; 5] = [
        [0, 4, 5, 3],
        [0, 3, 4, 0],
        [0, 5, 3, 4],
        [0, 3, 0, 4],
        [1, 4, 0, 0],
    ];
    let minor_: [[usize; 4]; 5] = [
        [0, 5, 2, 6],
        [0, 3, 4, 0],
        [0, 6, 5, 4],
        [0, 3, 6, 2],
        [0, 5, 3, 4],
    ];
    let table = if minor { &minor_ } else { &major };
    table[rng.random_range(0..table.len())].to_vec()
}
