//! The egress proxy image's build context: a ustar archive of a Dockerfile and
//! the static proxy binary, made in memory for the engine's build API (no
//! registry, no files on disk). Only regular files with short names: all the
//! context ever holds.

/// One file of the archive: name (under 100 bytes), mode, bytes.
pub(crate) struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub data: &'a [u8],
}

const BLOCK: usize = 512;

/// `value` in octal, zero-padded to `width - 1` digits and a NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len();
    let text = format!("{value:0w$o}\0", w = width - 1);
    field.copy_from_slice(text.as_bytes());
}

fn header(entry: &Entry<'_>) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = entry.name.as_bytes();
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(entry.mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], entry.data.len() as u64);
    octal(&mut h[136..148], 0); // mtime: fixed, so the same binary gives the same context
    h[156] = b'0'; // a regular file
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// The archive; Err when a name does not fit a ustar header or a file is over ustar's 8 GiB.
pub(crate) fn archive(entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for entry in entries {
        if entry.name.is_empty() || entry.name.len() >= 100 {
            return Err(format!("tar: the name {:?} does not fit", entry.name));
        }
        if entry.data.len() as u64 >= 8 << 30 {
            return Err(format!("tar: {} is too large", entry.name));
        }
        out.extend_from_slice(&header(entry));
        out.extend_from_slice(entry.data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    // The end: two zero blocks.
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_tar_reads_it_back() {
        let data = b"#!/bin/sh\necho hi\n".repeat(40);
        let bytes = archive(&[
            Entry { name: "Dockerfile", mode: 0o644, data: b"FROM scratch\n" },
            Entry { name: "egress-proxy", mode: 0o755, data: &data },
        ])
        .expect("archive");
        assert_eq!(bytes.len() % BLOCK, 0);
        let dir = tempfile::tempdir().expect("tempdir");
        let tar_path = dir.path().join("c.tar");
        std::fs::write(&tar_path, &bytes).expect("write");
        let listed = std::process::Command::new("tar").args(["-tvf"]).arg(&tar_path).output().expect("tar runs");
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(text.contains("-rw-r--r--") && text.contains("Dockerfile"), "{text}");
        assert!(text.contains("-rwxr-xr-x") && text.contains("egress-proxy"), "{text}");
        let out = std::process::Command::new("tar")
            .args(["-xf"])
            .arg(&tar_path)
            .arg("-C")
            .arg(dir.path())
            .output()
            .expect("tar runs");
        assert!(out.status.success());
        assert_eq!(std::fs::read(dir.path().join("egress-proxy")).expect("extracted"), data);
    }

    #[test]
    fn names_that_do_not_fit_are_refused() {
        assert!(archive(&[Entry { name: &"a".repeat(100), mode: 0o644, data: b"" }]).is_err());
        assert!(archive(&[Entry { name: "", mode: 0o644, data: b"" }]).is_err());
    }
}
