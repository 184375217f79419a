//! Writing a capture: one JSON object per line, gzip-compressed when the file name ends in
//! `.gz`. The file is written beside its final name and renamed into place, so a reader never
//! sees half a capture.

use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::format::{Capture, Line};

/// Writes `capture` to `path`, making its folder if need be.
pub fn write(capture: &Capture, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let partial = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.partial", ext.to_string_lossy()),
        None => "partial".to_string(),
    });
    let file = BufWriter::new(std::fs::File::create(&partial)?);
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = GzEncoder::new(file, Compression::default());
        write_lines(capture, &mut gz)?;
        gz.finish()?.flush()?;
    } else {
        let mut plain = file;
        write_lines(capture, &mut plain)?;
        plain.flush()?;
    }
    std::fs::rename(&partial, path)
}

fn write_lines(capture: &Capture, out: &mut impl Write) -> std::io::Result<()> {
    let header = Line::Header(capture.header.clone());
    for line in std::iter::once(&header).chain(capture.lines.iter().map(|n| &n.value)) {
        serde_json::to_writer(&mut *out, line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
