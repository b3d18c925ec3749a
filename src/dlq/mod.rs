//! Dead letters: what iotctl and RisingWave write to the dead-letter stream, read back in one
//! shape (`letter`), counted by reason and place (`stats`), and chosen for a redrive
//! (`DlqFilters`). Pure: the reading and the redrive loop are in `jobs::redrive`.

pub mod letter;
pub mod stats;

use serde::{Deserialize, Serialize};

use crate::spec::subjects::TelemetrySubject;
use letter::DeadLetter;

/// Which dead letters a command looks at; an absent filter matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqFilters {
    pub site: Option<String>,
    pub device_type: Option<String>,
    pub metric: Option<String>,
    /// A reason class (`letter::reason_class`), exactly.
    pub reason: Option<String>,
}

impl DlqFilters {
    pub fn is_empty(&self) -> bool {
        self == &DlqFilters::default()
    }

    /// Whether a dead letter is selected. Site, device type and metric come from its original
    /// subject; a subject outside the layout matches only when none of them is asked for.
    pub fn matches(&self, letter: &DeadLetter, layout: &TelemetrySubject) -> bool {
        if self.reason.as_ref().is_some_and(|r| *r != letter.reason_class()) {
            return false;
        }
        if self.site.is_none() && self.device_type.is_none() && self.metric.is_none() {
            return true;
        }
        let Some(tokens) = letter.original_subject.as_deref().and_then(|s| layout.tokens(s)) else {
            return false;
        };
        let wanted = |filter: &Option<String>, token: &str| filter.as_deref().is_none_or(|f| f == token);
        wanted(&self.site, tokens.site)
            && wanted(&self.device_type, tokens.device_type)
            && wanted(&self.metric, tokens.metric)
    }
}
