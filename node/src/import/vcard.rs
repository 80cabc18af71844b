//! A vCard (3.0 or 4.0): the person's own contact details from the first card in the file.

use super::mapping::{self, paths};
use super::{Collector, ImportError};
use me2b_proto::value::Value;
use std::io::BufRead;

pub(super) fn card(input: impl BufRead, collector: &mut Collector) -> Result<(), ImportError> {
    let mut parser = ical::VcardParser::new(input);
    let contact = match parser.next() {
        None => return Err(ImportError::new("line 1", "no BEGIN:VCARD: not a vCard file")),
        Some(Err(error)) => return Err(ImportError::new("card 1", format!("not a vCard: {error}"))),
        Some(Ok(contact)) => contact,
    };
    let mut seen = std::collections::BTreeSet::new();
    for property in contact.properties {
        let Some(value) = property.value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        let position = format!("card 1, {}", property.name);
        let (path, value) = match property.name.to_ascii_uppercase().as_str() {
            "FN" => (paths::NAME, Value::Text(value.to_owned())),
            "EMAIL" => (paths::EMAIL, Value::Text(value.to_owned())),
            "TEL" => (paths::PHONE, Value::Text(value.trim_start_matches("tel:").to_owned())),
            "ADR" => {
                let parts: Vec<&str> = value.split(';').map(str::trim).filter(|p| !p.is_empty()).collect();
                (paths::ADDRESS, Value::Text(parts.join(", ")))
            }
            "BDAY" => {
                let date = value.get(..10).unwrap_or(value);
                let digits = value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit());
                let compact = digits.then(|| format!("{}-{}-{}", &value[..4], &value[4..6], &value[6..]));
                match compact.as_deref().unwrap_or(date).parse() {
                    Ok(date) => (paths::BIRTH_DATE, Value::Date(date)),
                    Err(_) => {
                        collector.reject(&position, format!("BDAY {value:?} is not a full date"));
                        continue;
                    }
                }
            }
            _ => {
                collector.skipped += 1;
                continue;
            }
        };
        // The first of each kind (the preferred e-mail or phone comes first in most exports).
        if seen.insert(path) {
            collector.value(&position, &mapping::path(path)?, value, None)?;
        } else {
            collector.skipped += 1;
        }
    }
    Ok(())
}
