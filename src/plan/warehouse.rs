//! Diffing the warehouse's raw-telemetry table against the contract.

use serde::Serialize;

use super::Change;
use crate::quoting::sql::ident_of as q;
use crate::spec::Spec;
use crate::spec::event::{EventField, event_fields, identity_columns};

/// A column as `information_schema.columns` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedColumn {
    pub name: String,
    /// `data_type`, e.g. `text`, `bigint`, `timestamp with time zone`.
    pub data_type: String,
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedTable {
    pub columns: Vec<ObservedColumn>,
    pub primary_key: Vec<String>,
    /// Row estimate, for data-loss messages.
    pub rows: i64,
}

/// information_schema's name for the PostgreSQL type iotctl renders.
fn catalog_type(rendered: &str) -> &'static str {
    match rendered {
        "TEXT" => "text",
        "BIGINT" => "bigint",
        "DOUBLE PRECISION" => "double precision",
        "BOOLEAN" => "boolean",
        "TIMESTAMPTZ" => "timestamp with time zone",
        _ => "unknown",
    }
}

/// Conversions PostgreSQL makes without losing information.
fn widens(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("smallint" | "integer", "bigint")
            | ("smallint" | "integer" | "real" | "bigint", "double precision")
            | ("character varying" | "character", "text")
            | ("timestamp without time zone", "timestamp with time zone")
    ) || to == "text"
}

/// Creates an iotctl-owned table of fixed shape (the stream's daily statistics) when missing.
pub fn create_fixed_table(spec: &Spec, exists: bool, create_ddl: &str) -> Option<Change> {
    let label = format!("{}.{}", spec.warehouse.schema, crate::render::STREAM_DAILY_TABLE);
    (!exists).then(|| Change::ApplyWarehouseDdl {
        summary: format!("create table {label} (RisingWave's daily statistics, for the stream audit)"),
        table: label,
        statements: vec![create_ddl.to_string()],
        data_loss: None,
    })
}

/// Changes that make the warehouse table match the contract. `create_ddl` is the rendered
/// warehouse DDL, used when the table does not exist.
pub fn diff(spec: &Spec, observed: Option<&ObservedTable>, create_ddl: &str) -> Vec<Change> {
    let schema = spec.warehouse.schema.as_str();
    let table_name = spec.warehouse.raw_table.as_str();
    let label = format!("{schema}.{table_name}");
    let Some(observed) = observed else {
        return vec![Change::ApplyWarehouseDdl {
            table: label.clone(),
            statements: vec![create_ddl.to_string()],
            summary: format!(
                "create table {label} (primary key {})",
                identity_columns(spec).join(", ")
            ),
            data_loss: None,
        }];
    };
    let mut alter = Alter {
        table: format!("{}.{}", q(schema), q(table_name)),
        rows: observed.rows,
        statements: Vec::new(),
        notes: Vec::new(),
        losses: Vec::new(),
    };
    let identity = identity_columns(spec);
    let fields = event_fields(spec);
    for field in &fields {
        match observed.columns.iter().find(|c| c.name == field.name) {
            // Added as nullable: existing rows have no value. NOT NULL follows once backfilled.
            None => alter.push(
                format!("ADD COLUMN {} {}", q(&field.name), field.postgres_type()),
                format!("add column {}", field.name),
            ),
            Some(have) => alter.column(field, have, identity.contains(&field.name.as_str())),
        }
    }
    for column in observed
        .columns
        .iter()
        .filter(|c| !fields.iter().any(|f| f.name == c.name))
    {
        alter.push(
            format!("DROP COLUMN {}", q(&column.name)),
            format!("drop column {}", column.name),
        );
        alter.losses.push(format!(
            "column {} and its values in {} rows",
            column.name, observed.rows
        ));
    }
    alter.primary_key(table_name, &observed.primary_key, &identity);
    if alter.statements.is_empty() {
        return Vec::new();
    }
    vec![Change::ApplyWarehouseDdl {
        table: label.clone(),
        statements: alter.statements,
        summary: format!("alter table {label} ({})", alter.notes.join(", ")),
        data_loss: (!alter.losses.is_empty()).then(|| alter.losses.join("; ")),
    }]
}

/// The ALTER TABLE statements a diff collects, what each does, and what each would lose.
struct Alter {
    table: String,
    rows: i64,
    statements: Vec<String>,
    notes: Vec<String>,
    losses: Vec<String>,
}

impl Alter {
    fn push(&mut self, action: String, note: String) {
        self.statements.push(format!("ALTER TABLE {} {action}", self.table));
        self.notes.push(note);
    }

    /// A column both sides have: its type and its nullability.
    fn column(&mut self, field: &EventField, have: &ObservedColumn, in_identity: bool) {
        let (name, want_type) = (q(&field.name), catalog_type(field.postgres_type()));
        if have.data_type != want_type {
            let pg_type = field.postgres_type();
            let note = format!("column {}: {} → {want_type}", field.name, have.data_type);
            self.push(
                format!("ALTER COLUMN {name} TYPE {pg_type} USING {name}::{pg_type}"),
                note,
            );
            if !widens(&have.data_type, want_type) {
                let loss = format!(
                    "column {} narrows from {} to {want_type} over {} rows",
                    field.name, have.data_type, self.rows
                );
                self.losses.push(loss);
            }
        }
        if field.required && !have.not_null {
            self.push(
                format!("ALTER COLUMN {name} SET NOT NULL"),
                format!("column {} becomes NOT NULL", field.name),
            );
        } else if !field.required && have.not_null && !in_identity {
            self.push(
                format!("ALTER COLUMN {name} DROP NOT NULL"),
                format!("column {} becomes nullable", field.name),
            );
        }
    }

    /// The primary key is the event identity.
    fn primary_key(&mut self, table_name: &str, have: &[String], identity: &[&str]) {
        if have.iter().map(String::as_str).eq(identity.iter().copied()) {
            return;
        }
        let constraint = q(&format!("{table_name}_pkey"));
        if !have.is_empty() {
            self.statements
                .push(format!("ALTER TABLE {} DROP CONSTRAINT {constraint}", self.table));
        }
        let columns = identity.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        self.push(
            format!("ADD CONSTRAINT {constraint} PRIMARY KEY ({columns})"),
            format!("primary key ({}) → ({})", have.join(", "), identity.join(", ")),
        );
        self.losses
            .push("the event identity changes: rows that were distinct may now collide".to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let text = include_str!("../../examples/factory.yaml");
        crate::spec::load::parse("factory.yaml", text.as_bytes()).unwrap().spec
    }

    fn matching(spec: &Spec) -> ObservedTable {
        ObservedTable {
            columns: event_fields(spec)
                .iter()
                .map(|f| ObservedColumn {
                    name: f.name.clone(),
                    data_type: catalog_type(f.postgres_type()).into(),
                    not_null: f.required,
                })
                .collect(),
            primary_key: vec!["event_id".into()],
            rows: 10,
        }
    }

    #[test]
    fn missing_table_is_created_from_the_rendered_ddl() {
        let changes = diff(&spec(), None, "CREATE TABLE x");
        assert!(
            matches!(&changes[..], [Change::ApplyWarehouseDdl { statements, data_loss: None, .. }] if statements == &["CREATE TABLE x"])
        );
    }

    #[test]
    fn matching_table_needs_nothing() {
        let spec = spec();
        assert!(diff(&spec, Some(&matching(&spec)), "").is_empty());
    }

    #[test]
    fn added_field_is_additive_and_removed_column_destructive() {
        let spec = spec();
        let mut table = matching(&spec);
        table.columns.retain(|c| c.name != "line");
        table.columns.push(ObservedColumn {
            name: "legacy".into(),
            data_type: "text".into(),
            not_null: false,
        });
        let changes = diff(&spec, Some(&table), "");
        let [
            Change::ApplyWarehouseDdl {
                statements,
                data_loss: Some(loss),
                ..
            },
        ] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert!(statements.iter().any(|s| s.contains("ADD COLUMN line TEXT")));
        assert!(statements.iter().any(|s| s.contains("DROP COLUMN legacy")));
        assert!(loss.contains("legacy"));
    }

    #[test]
    fn narrowing_a_type_is_destructive_widening_is_not() {
        let spec = spec();
        let mut widen = matching(&spec);
        widen.columns.iter_mut().find(|c| c.name == "seq").unwrap().data_type = "integer".into();
        assert!(diff(&spec, Some(&widen), "")[0].data_loss().is_none());
        let mut narrow = matching(&spec);
        narrow.columns.iter_mut().find(|c| c.name == "value").unwrap().data_type = "text".into();
        assert!(diff(&spec, Some(&narrow), "")[0].data_loss().is_some());
    }
}
