//! YAML scalars.

/// A YAML double-quoted scalar (JSON strings are valid YAML).
pub fn string(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_survive_yaml() {
        for text in ["plain", "it's: a \"quote\"", "line\nbreak", "- dash", "#hash", "ünï"] {
            let parsed: String = serde_yaml_ng::from_str(&super::string(text)).unwrap();
            assert_eq!(parsed, text);
        }
    }
}
