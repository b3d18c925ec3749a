//! Diffing the warehouse's raw-telemetry table against the contract.

use serde::Serialize;

use super::Change;
use crate::quoting::sql::ident_of as q;
use crate::spec::Spec;
use crate::spec::event::{event_fields, identity_columns};

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
    let table = format!("{}.{}", q(schema), q(table_name));
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
    let mut statements = Vec::new();
    let mut notes = Vec::new();
    let mut losses = Vec::new();
    let fields = event_fields(spec);
    for field in &fields {
        let want_type = catalog_type(field.postgres_type());
        match observed.columns.iter().find(|c| c.name == field.name) {
            None => {
                // Added as nullable: existing rows have no value. NOT NULL follows once backfilled.
                statements.push(format!(
                    "ALTER TABLE {table} ADD COLUMN {} {}",
                    q(&field.name),
                    field.postgres_type()
                ));
                notes.push(format!("add column {}", field.name));
            }
            Some(have) => {
                if have.data_type != want_type {
                    statements.push(format!(
                        "ALTER TABLE {table} ALTER COLUMN {} TYPE {} USING {}::{}",
                        q(&field.name),
                        field.postgres_type(),
                        q(&field.name),
                        field.postgres_type()
                    ));
                    notes.push(format!("column {}: {} → {want_type}", field.name, have.data_type));
                    if !widens(&have.data_type, want_type) {
                        losses.push(format!(
                            "column {} narrows from {} to {want_type} over {} rows",
                            field.name, have.data_type, observed.rows
                        ));
                    }
                }
                if field.required && !have.not_null {
                    statements.push(format!(
                        "ALTER TABLE {table} ALTER COLUMN {} SET NOT NULL",
                        q(&field.name)
                    ));
                    notes.push(format!("column {} becomes NOT NULL", field.name));
                } else if !field.required && have.not_null && !identity_columns(spec).contains(&field.name.as_str()) {
                    statements.push(format!(
                        "ALTER TABLE {table} ALTER COLUMN {} DROP NOT NULL",
                        q(&field.name)
                    ));
                    notes.push(format!("column {} becomes nullable", field.name));
                }
            }
        }
    }
    for column in &observed.columns {
        if !fields.iter().any(|f| f.name == column.name) {
            statements.push(format!("ALTER TABLE {table} DROP COLUMN {}", q(&column.name)));
            notes.push(format!("drop column {}", column.name));
            losses.push(format!(
                "column {} and its values in {} rows",
                column.name, observed.rows
            ));
        }
    }
    let identity: Vec<String> = identity_columns(spec).iter().map(|c| c.to_string()).collect();
    if observed.primary_key != identity {
        let constraint = q(&format!("{table_name}_pkey"));
        if !observed.primary_key.is_empty() {
            statements.push(format!("ALTER TABLE {table} DROP CONSTRAINT {constraint}"));
        }
        statements.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT {constraint} PRIMARY KEY ({})",
            identity.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")
        ));
        notes.push(format!(
            "primary key ({}) → ({})",
            observed.primary_key.join(", "),
            identity.join(", ")
        ));
        losses.push("the event identity changes: rows that were distinct may now collide".to_string());
    }
    if statements.is_empty() {
        return Vec::new();
    }
    vec![Change::ApplyWarehouseDdl {
        table: label.clone(),
        statements,
        summary: format!("alter table {label} ({})", notes.join(", ")),
        data_loss: (!losses.is_empty()).then(|| losses.join("; ")),
    }]
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
