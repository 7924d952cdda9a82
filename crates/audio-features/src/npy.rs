//! Minimal NumPy `.npy` (format 1.0) reading and writing of little-endian float arrays.
//!
//! Enough for the feature dumps of `tagscale features mel` and for reading the librosa
//! fixtures; C order only.

use std::io::Write;
use std::path::Path;

use crate::error::{AudioError, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// An array read from a `.npy` file, converted to `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Write a C-order little-endian float32 array.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let err = |reason: String| AudioError::Npy {
        path: path.to_path_buf(),
        reason,
    };
    if shape.iter().product::<usize>() != data.len() {
        return Err(err(format!(
            "shape {shape:?} does not hold {} values",
            data.len()
        )));
    }
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad so that magic + version + length + header is a multiple of 64, ending in '\n'.
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(unpadded + 64 + data.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let io = |source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(io)
}

/// Read a C-order little-endian `<f4` or `<f8` array.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| AudioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|reason| AudioError::Npy {
        path: path.to_path_buf(),
        reason,
    })
}

fn parse(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated header")?;
    if header.contains("'fortran_order': True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let width = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(format!("unsupported dtype in header {header}"));
    };
    let shape = parse_shape(header)?;
    let body = &bytes[start + header_len..];
    let count: usize = shape.iter().product();
    if body.len() != count * width {
        return Err(format!(
            "expected {count} values, found {} bytes",
            body.len()
        ));
    }
    let data = if width == 4 {
        body.chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(std::array::from_fn(|i| c[i]))))
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(std::array::from_fn(|i| c[i])))
            .collect()
    };
    Ok(NpyArray { shape, data })
}

fn parse_shape(header: &str) -> std::result::Result<Vec<usize>, String> {
    let open = header.find("'shape': (").ok_or("no shape in header")? + "'shape': (".len();
    let close = header[open..].find(')').ok_or("unterminated shape")? + open;
    header[open..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad dimension {s:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_f32(&path, &[3, 4], &data).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            (bytes.len() - data.len() * 4) % 64,
            0,
            "header is 64-byte aligned"
        );
        let back = read(&path).unwrap();
        assert_eq!(back.shape, vec![3, 4]);
        assert_eq!(
            back.data,
            data.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rejects_non_npy_bytes() {
        assert!(parse(b"hello world, not numpy").is_err());
    }
}
