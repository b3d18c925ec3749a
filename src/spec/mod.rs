//! The pipeline spec: model, loading with source positions, and semantic validation.

pub mod diagnostic;
pub mod duration;
pub mod event;
pub mod load;
pub mod model;
pub mod names;
pub mod positions;
pub mod streams;
pub mod subjects;
pub mod validate;
mod validate_connectors;
mod validate_slo;

pub use diagnostic::{Diagnostic, Severity, SourceFile};
pub use load::LoadedSpec;
pub use model::Spec;

/// A checked spec and its warnings, or the source (when it parsed) and every diagnostic.
pub type Checked = Result<(LoadedSpec, Vec<Diagnostic>), (Option<SourceFile>, Vec<Diagnostic>)>;

/// Parses and validates spec text: the spec when it has no errors (warnings may remain),
/// otherwise every diagnostic.
pub fn check(name: &str, bytes: &[u8]) -> Checked {
    let loaded = match load::parse(name, bytes) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            let source = std::str::from_utf8(bytes).ok().map(|text| SourceFile {
                name: name.to_string(),
                text: text.to_string(),
            });
            return Err((source, diagnostics));
        }
    };
    let diagnostics = validate::validate(&loaded);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err((Some(loaded.source), diagnostics));
    }
    Ok((loaded, diagnostics))
}
