//! The host's MIME table for outbox files.

/// MIME type for a file name, from the lower-cased text after its last `.`
/// (the whole name when it has none), as the host has always mapped them.
pub(crate) fn mime_for(filename: &str) -> &'static str {
    let ext = match filename.rfind('.') {
        Some(i) => &filename[i + 1..],
        None => filename,
    };
    match ext.to_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ogg" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "webm" => "video/webm",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" => "text/html",
        "md" => "text/markdown",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::mime_for;

    #[test]
    fn maps_every_extension_of_the_table() {
        let table = [
            ("a.jpg", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.svg", "image/svg+xml"),
            ("a.ogg", "audio/ogg"),
            ("a.mp3", "audio/mpeg"),
            ("a.m4a", "audio/mp4"),
            ("a.aac", "audio/aac"),
            ("a.wav", "audio/wav"),
            ("a.mp4", "video/mp4"),
            ("a.3gp", "video/3gpp"),
            ("a.webm", "video/webm"),
            ("a.pdf", "application/pdf"),
            ("a.txt", "text/plain"),
            ("a.csv", "text/csv"),
            ("a.json", "application/json"),
            ("a.html", "text/html"),
            ("a.md", "text/markdown"),
            ("a.doc", "application/msword"),
            ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("a.xls", "application/vnd.ms-excel"),
            ("a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ];
        for (name, mime) in table {
            assert_eq!(mime_for(name), mime, "{name}");
        }
    }

    #[test]
    fn uses_the_last_dot_and_ignores_case() {
        assert_eq!(mime_for("report.final.PDF"), "application/pdf");
        assert_eq!(mime_for("Photo.JpEg"), "image/jpeg");
        assert_eq!(mime_for("archive.tar.gz"), "application/octet-stream");
    }

    #[test]
    fn a_name_without_a_dot_is_its_own_extension() {
        assert_eq!(mime_for("png"), "image/png");
        assert_eq!(mime_for("README"), "application/octet-stream");
        assert_eq!(mime_for("trailing."), "application/octet-stream");
    }
}
