//! Argument parsers several subcommands share.

/// The most threads or worker processes a flag may ask for: far beyond any CPU run's use,
/// far below what would make the machine unusable.
const MAX_COUNT: usize = 1024;

/// `--threads` / `--workers`: a count within 1..=MAX_COUNT.
pub fn parse_count(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|e| format!("{text:?} is not a count: {e}"))?;
    if !(1..=MAX_COUNT).contains(&n) {
        return Err(format!("{n} must be within 1..={MAX_COUNT}"));
    }
    Ok(n)
}
