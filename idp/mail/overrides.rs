//! The `[templates] dir` override folder: a city's own files replace built-in templates, for
//! mails and pages alike.

/// The built-in templates `(name, text)`, each replaced by the file `<dir>/<folder>/<name>` when
/// an override directory is configured and has it.
pub fn with_overrides(
    builtin: &[(&str, &str)],
    dir: Option<&std::path::Path>,
    folder: &str,
) -> Result<Vec<(String, String)>, String> {
    builtin
        .iter()
        .map(|(name, text)| {
            let file = dir.map(|d| d.join(folder).join(name));
            match file.filter(|f| f.is_file()) {
                Some(file) => std::fs::read_to_string(&file)
                    .map(|own| (name.to_string(), own))
                    .map_err(|e| format!("cannot read {}: {e}", file.display())),
                None => Ok((name.to_string(), text.to_string())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_override_directory_replaces_the_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pages")).unwrap();
        std::fs::write(dir.path().join("pages/login.html"), "own").unwrap();
        let builtin = [("login.html", "builtin"), ("error.html", "builtin error")];
        let sources = with_overrides(&builtin, Some(dir.path()), "pages").unwrap();
        assert_eq!(
            sources,
            [
                ("login.html".to_string(), "own".to_string()),
                ("error.html".to_string(), "builtin error".to_string())
            ]
        );
        assert_eq!(
            with_overrides(&builtin, None, "pages").unwrap()[0].1,
            "builtin"
        );
    }
}
