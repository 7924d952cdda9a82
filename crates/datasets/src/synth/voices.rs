//! Instrument synthesis at 16 kHz: additive piano and organ, detuned-saw strings and pads,
//! Karplus–Strong guitars, breathy flute, filtered brass, square-wave lead, formant-synthesised
//! voices and choir, and a drum kit — each rendered from its notes into one buffer.

use std::f64::consts::TAU;

use rand::{Rng, RngExt};

use super::plan::Instrument;
use super::score::{Drum, Note};

pub const SR: f64 = 16_000.0;

fn hz(pitch: f64) -> f64 {
    440.0 * 2f64.powf((pitch - 69.0) / 12.0)
}

/// Attack–decay–sustain–release envelope value at `t` seconds into a note of `length`.
fn adsr(t: f64, length: f64, attack: f64, decay: f64, sustain: f64, release: f64) -> f64 {
    let level = if t < attack {
        t / attack
    } else if t < attack + decay {
        1.0 - (1.0 - sustain) * (t - attack) / decay
    } else {
        sustain
    };
    if t > length {
        (level * (1.0 - (t - length) / release)).max(0.0)
    } else {
        level
    }
}

/// Band-limited step correction for naive saw/square oscillators (PolyBLEP).
fn poly_blep(phase: f64, dt: f64) -> f64 {
    if phase < dt {
        let t = phase / dt;
        t + t - t * t - 1.0
    } else if phase > 1.0 - dt {
        let t = (phase - 1.0) / dt;
        t * t + t + t + 1.0
    } else {
        0.0
    }
}

fn saw(phase: f64, dt: f64) -> f64 {
    2.0 * phase - 1.0 - poly_blep(phase, dt)
}

fn square(phase: f64, dt: f64) -> f64 {
    let naive = if phase < 0.5 { 1.0 } else { -1.0 };
    naive + poly_blep(phase, dt) - poly_blep(wrap(phase + 0.5), dt)
}

/// One-pole low-pass, in place.
pub fn lowpass(buf: &mut [f32], cutoff: f64) {
    let a = (-TAU * cutoff / SR).exp() as f32;
    let mut y = 0.0f32;
    for x in buf.iter_mut() {
        y = (1.0 - a) * *x + a * y;
        *x = y;
    }
}

/// Two-pole resonator (band-pass) used for formants.
struct Resonator {
    a1: f64,
    a2: f64,
    gain: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn new(freq: f64, bandwidth: f64) -> Self {
        let r = (-std::f64::consts::PI * bandwidth / SR).exp();
        Self {
            a1: -2.0 * r * (TAU * freq / SR).cos(),
            a2: r * r,
            gain: 1.0 - r,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn tick(&mut self, x: f64) -> f64 {
        let y = self.gain * x - self.a1 * self.y1 - self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Formants (F1, F2, F3) of the vowels a, e, i, o, u.
const VOWELS: [[f64; 3]; 5] = [
    [730.0, 1090.0, 2440.0],
    [530.0, 1840.0, 2480.0],
    [270.0, 2290.0, 3010.0],
    [570.0, 840.0, 2410.0],
    [300.0, 870.0, 2240.0],
];

/// Render every note of a part into a buffer of `len` samples.
pub fn render_part<R: Rng + ?Sized>(
    instrument: Instrument,
    notes: &[Note],
    len: usize,
    rng: &mut R,
) -> Vec<f32> {
    let mut buf = vec![0.0f32; len];
    for n in notes {
        let start = (n.start * SR) as usize;
        if start >= len {
            continue;
        }
        match instrument {
            Instrument::Piano => piano(&mut buf[start..], n),
            Instrument::Organ => organ(&mut buf[start..], n),
            Instrument::StringEnsemble => {
                detuned_saws(&mut buf[start..], n, 3, (0.25, 0.3), 3000.0, rng)
            }
            Instrument::SynthPad => detuned_saws(&mut buf[start..], n, 4, (0.7, 0.6), 1400.0, rng),
            Instrument::AcousticGuitar => pluck(&mut buf[start..], n, 0.996, rng),
            Instrument::ElectricGuitar => pluck(&mut buf[start..], n, 0.999, rng),
            Instrument::Flute => flute(&mut buf[start..], n, rng),
            Instrument::Brass => brass(&mut buf[start..], n),
            Instrument::SynthLead => lead(&mut buf[start..], n),
            Instrument::Bass => bass(&mut buf[start..], n),
            Instrument::LeadVocals => voice(&mut buf[start..], n, rng.random_range(0..5), 1, rng),
            Instrument::Choir => {
                voice(&mut buf[start..], n, [0, 3][rng.random_range(0..2)], 4, rng)
            }
            Instrument::Drums => drum(&mut buf[start..], n, rng),
        }
    }
    if instrument == Instrument::ElectricGuitar {
        // Overdrive: hard gain into a soft clipper, then a cabinet-like low-pass.
        let peak = buf.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        buf.iter_mut().for_each(|v| *v = (8.0 * *v / peak).tanh());
        lowpass(&mut buf, 3500.0);
    }
    buf
}

/// sin(x) for the phases synthesis uses (|x| < 1e6 rad): the reduction loses up to ~1e-10 (as
/// much as computing the phase `2π·f·t` itself does), the series ~5e-14. Plain multiplications
/// and additions with a short dependency chain (no FMA, no libm), so its bits do not depend on
/// the host's libm. It is not faster: swapped in alone, the main job's corpus and cache took
/// 54.6 s against 52.0 s with libm's `sin` — the work around it per sample dominates.
fn sin(x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    let turns = x * (1.0 / TAU);
    // Nearest whole turn: an integer conversion, not `round` (a libm call without SSE4.1).
    let k = (turns + if turns < 0.0 { -0.5 } else { 0.5 }) as i64 as f64;
    let mut r = x - k * TAU;
    // Into [-π/2, π/2]: sin(π − r) = sin(r) = sin(−π − r).
    if r > FRAC_PI_2 {
        r = PI - r;
    } else if r < -FRAC_PI_2 {
        r = -PI - r;
    }
    // Odd Taylor series to r^17 (the first term left out is below 5e-14 at π/2), evaluated
    // by Estrin's scheme in z = r²: a short dependency chain instead of nine in a row.
    let z = r * r;
    let (z2, z4) = (z * z, z * z * (z * z));
    let pair = |a: f64, b: f64| a + b * z;
    let low = pair(1.0, -1.0 / 6.0) + pair(1.0 / 120.0, -1.0 / 5_040.0) * z2;
    let high = pair(1.0 / 362_880.0, -1.0 / 39_916_800.0)
        + pair(1.0 / 6_227_020_800.0, -1.0 / 1_307_674_368_000.0) * z2;
    r * (low + high * z4 + (1.0 / 355_687_428_096_000.0) * (z4 * z4))
}

/// A phase in [0, 2) back into [0, 1): what `fract` gives there, without its libm `trunc`
/// call (one per sample of every oscillator).
#[inline(always)]
fn wrap(phase: f64) -> f64 {
    if phase >= 1.0 { phase - 1.0 } else { phase }
}

/// Add `f(t)` for t in seconds over `seconds` (clipped to the buffer).
fn add(out: &mut [f32], seconds: f64, mut f: impl FnMut(f64) -> f64) {
    let n = ((seconds * SR) as usize).min(out.len());
    for (i, o) in out[..n].iter_mut().enumerate() {
        *o += f(i as f64 / SR) as f32;
    }
}

fn piano(out: &mut [f32], n: &Note) {
    let f = hz(n.pitch);
    let decay = 1.2 * (440.0 / f).powf(0.5).min(3.0);
    let v = f64::from(n.velocity);
    // The stretched partials below Nyquist, as (angular frequency, 1 / harmonic number):
    // worked out once per note, not per sample.
    let partials: Vec<(f64, f64)> = (1..=8)
        .map(|h| {
            (
                h as f64,
                f * h as f64 * (1.0 + 0.0004 * (h * h) as f64).sqrt(),
            )
        })
        .take_while(|&(_, fh)| fh < SR / 2.0)
        .map(|(h, fh)| (TAU * fh, 1.0 / h))
        .collect();
    add(out, n.duration.max(0.3) + 1.0, |t| {
        let env = (t / 0.004).min(1.0)
            * (-t / decay).exp()
            * if t > n.duration {
                (-(t - n.duration) / 0.15).exp()
            } else {
                1.0
            };
        // Harmonic h decays as exp(-0.6 h t): powers of one exponential.
        let (decay_1, mut decay_h) = ((-t * 0.6).exp(), 1.0);
        let mut s = 0.0;
        for &(omega, weight) in &partials {
            decay_h *= decay_1;
            s += sin(omega * t) * decay_h * weight;
        }
        v * env * s
    });
}

fn organ(out: &mut [f32], n: &Note) {
    let f = hz(n.pitch);
    add(out, n.duration + 0.05, |t| {
        let env = (t / 0.01).min(1.0)
            * if t > n.duration {
                (1.0 - (t - n.duration) / 0.05).max(0.0)
            } else {
                1.0
            };
        let tremolo = 1.0 + 0.15 * sin(TAU * 6.2 * t);
        let mut s = 0.0;
        for (h, w) in [
            (1.0, 1.0),
            (2.0, 0.8),
            (3.0, 0.6),
            (4.0, 0.5),
            (6.0, 0.3),
            (8.0, 0.25),
        ] {
            if f * h < SR / 2.0 {
                s += w * sin(TAU * f * h * t);
            }
        }
        env * tremolo * s
    });
}

fn detuned_saws<R: Rng + ?Sized>(
    out: &mut [f32],
    n: &Note,
    voices: usize,
    (attack, release): (f64, f64),
    cutoff: f64,
    rng: &mut R,
) {
    let len = ((n.duration + release) * SR) as usize;
    let len = len.min(out.len());
    let mut tmp = vec![0.0f32; len];
    for k in 0..voices {
        let cents = (k as f64 - (voices - 1) as f64 / 2.0) * 7.0 + rng.random_range(-2.0..2.0);
        let f = hz(n.pitch) * 2f64.powf(cents / 1200.0);
        let dt = f / SR;
        let mut phase = rng.random_range(0.0..1.0);
        let vibrato_rate = rng.random_range(4.8..6.2);
        for (i, o) in tmp.iter_mut().enumerate() {
            let t = i as f64 / SR;
            let env = adsr(t, n.duration, attack, 0.2, 0.85, release);
            *o += (env * saw(phase, dt)) as f32 / voices as f32;
            phase = wrap(phase + dt * (1.0 + 0.003 * sin(TAU * vibrato_rate * t)));
        }
    }
    lowpass(&mut tmp, cutoff);
    lowpass(&mut tmp, cutoff * 1.5);
    for (o, v) in out.iter_mut().zip(tmp) {
        *o += v * n.velocity;
    }
}

/// Karplus–Strong plucked string.
fn pluck<R: Rng + ?Sized>(out: &mut [f32], n: &Note, feedback: f64, rng: &mut R) {
    let period = (SR / hz(n.pitch)).round().max(2.0) as usize;
    let mut line: Vec<f64> = (0..period).map(|_| rng.random_range(-1.0..1.0)).collect();
    let len = (((n.duration + 0.3) * SR) as usize).min(out.len());
    let damp_from = (n.duration * SR) as usize;
    let v = f64::from(n.velocity);
    for (i, o) in out[..len].iter_mut().enumerate() {
        let j = i % period;
        let next = line[(j + 1) % period];
        let damping = if i > damp_from { 0.97 } else { feedback };
        let s = line[j];
        line[j] = damping * 0.5 * (s + next);
        *o += (v * s * 0.5) as f32;
    }
}

fn flute<R: Rng + ?Sized>(out: &mut [f32], n: &Note, rng: &mut R) {
    let f = hz(n.pitch);
    let v = f64::from(n.velocity);
    let mut breath = 0.0;
    add(out, n.duration + 0.08, |t| {
        let env = adsr(t, n.duration, 0.06, 0.1, 0.8, 0.08);
        let vib = 1.0 + 0.006 * sin(TAU * 5.0 * t) * (t / 0.3).min(1.0);
        let phase = TAU * f * vib * t;
        breath = 0.9 * breath + 0.1 * rng.random_range(-1.0..1.0);
        v * env * (sin(phase) + 0.15 * sin(2.0 * phase) + 0.05 * sin(3.0 * phase) + 0.25 * breath)
    });
}

fn brass(out: &mut [f32], n: &Note) {
    let f = hz(n.pitch);
    let dt = f / SR;
    let v = f64::from(n.velocity);
    let len = (((n.duration + 0.08) * SR) as usize).min(out.len());
    let (mut phase, mut y) = (0.0f64, 0.0f64);
    for (i, o) in out[..len].iter_mut().enumerate() {
        let t = i as f64 / SR;
        let env = adsr(t, n.duration, 0.04, 0.15, 0.75, 0.08);
        // The filter opens with the envelope: brass gets brighter as it gets louder.
        let cutoff = 300.0 + 3500.0 * env;
        let a = (-TAU * cutoff / SR).exp();
        y = (1.0 - a) * saw(phase, dt) + a * y;
        *o += (v * env * y) as f32;
        phase = wrap(phase + dt);
    }
}

fn lead(out: &mut [f32], n: &Note) {
    let f = hz(n.pitch);
    let dt = f / SR;
    let v = f64::from(n.velocity);
    let len = (((n.duration * 0.8 + 0.03) * SR) as usize).min(out.len());
    let mut phase = 0.0;
    let mut y = 0.0;
    for (i, o) in out[..len].iter_mut().enumerate() {
        let t = i as f64 / SR;
        let env = adsr(t, n.duration * 0.8, 0.005, 0.05, 0.7, 0.03);
        y = 0.6 * square(phase, dt) + 0.4 * y;
        *o += (v * env * y) as f32;
        phase = wrap(phase + dt);
    }
}

fn bass(out: &mut [f32], n: &Note) {
    let f = hz(n.pitch);
    let dt = f / SR;
    let v = f64::from(n.velocity);
    let len = (((n.duration + 0.05) * SR) as usize).min(out.len());
    let (mut phase, mut y) = (0.0, 0.0);
    let a = (-TAU * 700.0 / SR).exp();
    for (i, o) in out[..len].iter_mut().enumerate() {
        let t = i as f64 / SR;
        let env = adsr(t, n.duration, 0.008, 0.2, 0.6, 0.05);
        let raw = sin(TAU * phase) + 0.35 * saw(phase, dt);
        y = (1.0 - a) * raw + a * y;
        *o += (v * env * y) as f32;
        phase = wrap(phase + dt);
    }
}

/// Formant voice: a glottal pulse train (saw) through three vowel resonators, with vibrato
/// and pitch jitter; `voices` > 1 makes a choir section.
fn voice<R: Rng + ?Sized>(out: &mut [f32], n: &Note, vowel: usize, voices: usize, rng: &mut R) {
    let len = (((n.duration + 0.1) * SR) as usize).min(out.len());
    let formants = VOWELS[vowel];
    let mut tmp = vec![0.0f32; len];
    for _ in 0..voices {
        let detune = if voices > 1 {
            rng.random_range(-12.0..12.0)
        } else {
            0.0
        };
        let f = hz(n.pitch) * 2f64.powf(detune / 1200.0);
        let rate = rng.random_range(4.5..6.0);
        let mut filters: Vec<Resonator> = formants
            .iter()
            .zip([80.0, 90.0, 120.0])
            .map(|(&fr, bw)| Resonator::new(fr * rng.random_range(0.95..1.05), bw))
            .collect();
        let mut phase = rng.random_range(0.0..1.0);
        let attack = if voices > 1 { 0.25 } else { 0.05 };
        for (i, o) in tmp.iter_mut().enumerate() {
            let t = i as f64 / SR;
            let env = adsr(t, n.duration, attack, 0.1, 0.85, 0.1);
            let fi = f * (1.0 + 0.01 * sin(TAU * rate * t) * (t / 0.25).min(1.0));
            let dt = fi / SR;
            let source = saw(phase, dt);
            let s: f64 = filters
                .iter_mut()
                .zip([1.0, 0.6, 0.3])
                .map(|(r, w)| w * r.tick(source))
                .sum();
            *o += (env * s) as f32 / voices as f32;
            phase = wrap(phase + dt);
        }
    }
    for (o, v) in out.iter_mut().zip(tmp) {
        *o += v * n.velocity * 4.0;
    }
}

fn drum<R: Rng + ?Sized>(out: &mut [f32], n: &Note, rng: &mut R) {
    let v = f64::from(n.velocity);
    let drum = match n.pitch as u8 {
        0 => Drum::Kick,
        1 => Drum::Snare,
        2 => Drum::HiHat,
        _ => Drum::Ride,
    };
    match drum {
        Drum::Kick => {
            let mut phase = 0.0;
            add(out, 0.35, |t| {
                let f = 45.0 + 90.0 * (-t / 0.04).exp();
                phase += TAU * f / SR;
                v * 1.4 * (-t / 0.18).exp() * sin(phase)
            });
        }
        Drum::Snare => add(out, 0.25, |t| {
            let noise = rng.random_range(-1.0..1.0);
            v * ((-t / 0.09).exp() * 0.8 * noise + (-t / 0.05).exp() * 0.5 * sin(TAU * 185.0 * t))
        }),
        Drum::HiHat | Drum::Ride => {
            let decay = if drum == Drum::Ride { 0.35 } else { 0.035 };
            let mut previous = 0.0;
            add(out, decay * 5.0, |t| {
                // Differenced noise: a crude high-pass that keeps the metallic hiss.
                let noise = rng.random_range(-1.0..1.0);
                let hiss = noise - previous;
                previous = noise;
                v * 0.35 * (-t / decay).exp() * hiss
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synthesis sine against libm's over the phases rendering reaches (a few kHz for
    /// tens of seconds), both signs and the turn boundaries.
    #[test]
    fn sin_matches_libm_over_rendering_phases() {
        let mut worst = 0.0f64;
        let mut x = -2.0e5;
        while x < 2.0e5 {
            worst = worst.max((sin(x) - x.sin()).abs());
            x += 0.618_033_988_7;
        }
        for k in -50..=50 {
            for x in [k as f64 * TAU, (k as f64 + 0.5) * TAU] {
                for d in [-1e-9, 0.0, 1e-9] {
                    worst = worst.max((sin(x + d) - (x + d).sin()).abs());
                }
            }
        }
        assert!(worst < 1e-10, "largest difference from libm: {worst:e}");
    }
}
