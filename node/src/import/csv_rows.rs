//! CSV with a header row and a mapping from columns to vault paths (see [`CsvMapping`]).

use super::mapping;
use super::{Collector, CsvMapping, ImportError, tag_of};
use me2b_proto::value::{Point, Value};
use std::io::BufRead;

/// A cell as a vault value: a number, a date, `true`/`false`, or text.
fn cell_value(cell: &str) -> Value {
    let cell = cell.trim();
    if let Ok(n) = cell.parse::<f64>()
        && n.is_finite()
    {
        return Value::Number(n);
    }
    if let Ok(date) = cell.parse() {
        return Value::Date(date);
    }
    match cell {
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        _ => Value::Text(cell.to_owned()),
    }
}

pub(super) fn rows(input: impl BufRead, mapping: &CsvMapping, collector: &mut Collector) -> Result<(), ImportError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().map_err(|e| ImportError::new("line 1", format!("no header row: {e}")))?.clone();
    let index = |column: &str| {
        headers
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| ImportError::new("line 1", format!("no column {column:?} (the header has {headers:?})")))
    };
    let columns = mapping
        .columns
        .iter()
        .map(|(column, path)| Ok((index(column)?, path)))
        .collect::<Result<Vec<_>, ImportError>>()?;
    let time = mapping.time_column.as_deref().map(index).transpose()?;
    let tag = mapping.tag_column.as_deref().map(index).transpose()?;
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            ImportError::new(format!("line {line}"), format!("not CSV: {e}"))
        })?;
        if !more {
            return Ok(());
        }
        let position = format!("line {}", record.position().map_or(0, csv::Position::line));
        let cell = |i: usize| record.get(i).unwrap_or_default();
        match time {
            Some(time) => {
                let Some(when) = mapping::when(cell(time)) else {
                    collector.reject(&position, format!("{:?} is not a date or time", cell(time)));
                    continue;
                };
                let tag = tag.and_then(|t| tag_of(cell(t)));
                for (i, path) in &columns {
                    if cell(*i).is_empty() {
                        continue;
                    }
                    match cell_value(cell(*i)) {
                        Value::Number(value) => {
                            collector.point(&position, path, Point { at: when.at, value, tag: tag.clone() }, None)?
                        }
                        _ => collector.reject(&position, format!("{path}: {:?} is not a number", cell(*i))),
                    }
                }
            }
            None => {
                for (i, path) in &columns {
                    if !cell(*i).is_empty() {
                        collector.value(&position, path, cell_value(cell(*i)), None)?;
                    }
                }
            }
        }
    }
}
