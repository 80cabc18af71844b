//! Apple Health's `export.xml`: quantity records by type (summed or averaged per local day
//! for the frequent ones, one point per measurement for the others), workouts as activities,
//! and the date of birth. Record types without a vault path are counted as skipped.

use super::mapping::{self, APPLE, Quantity, activity_paths};
use super::xml::{Element, Node, Xml};
use super::{Collector, ImportError, tag_of};
use me2b_proto::value::{Point, Value};
use std::io::BufRead;

pub(super) fn export(input: impl BufRead, collector: &mut Collector) -> Result<(), ImportError> {
    let mut xml = Xml::new(input);
    let mut depth = 0usize;
    let mut saw_root = false;
    let mut workout: Option<(Element, String, Option<f64>)> = None;
    loop {
        match xml.next()? {
            Node::Open(element) => {
                depth += 1;
                let position = xml.position();
                match (element.name.as_str(), depth) {
                    ("HealthData", 1) => saw_root = true,
                    (_, 1) => return Err(xml.error(format!("<{}> is not an Apple Health export's root", element.name))),
                    ("Record", 2) => record(&element, &position, collector)?,
                    ("Me", 2) => {
                        if let Some(birth) = element.attribute("HKCharacteristicTypeIdentifierDateOfBirth")
                            && !birth.is_empty()
                        {
                            match birth.parse() {
                                Ok(date) => {
                                    let path = mapping::path(mapping::paths::BIRTH_DATE)?;
                                    collector.value(&position, &path, Value::Date(date), None)?;
                                }
                                Err(_) => collector.reject(&position, format!("unreadable date of birth {birth:?}")),
                            }
                        }
                    }
                    ("Workout", 2) => workout = Some((element, position, None)),
                    ("WorkoutStatistics", 3) => {
                        if let Some((_, _, distance)) = workout.as_mut()
                            && element
                                .attribute("type")
                                .is_some_and(|t| t.starts_with("HKQuantityTypeIdentifierDistance"))
                        {
                            let sum = element.attribute("sum").and_then(|s| s.parse::<f64>().ok());
                            *distance = sum.and_then(|s| Quantity::Distance.convert(s, element.attribute("unit")?));
                        }
                    }
                    _ => {}
                }
            }
            Node::Close(name) => {
                if name == "Workout"
                    && depth == 2
                    && let Some((element, position, distance)) = workout.take()
                {
                    save_workout(&element, &position, distance, collector)?;
                }
                depth = depth.saturating_sub(1);
            }
            Node::Text(_) => {}
            Node::End => break,
        }
    }
    if !saw_root {
        return Err(xml.error("no <HealthData> element: not an Apple Health export"));
    }
    Ok(())
}

fn record(element: &Element, position: &str, collector: &mut Collector) -> Result<(), ImportError> {
    let kind = element.attribute("type").unwrap_or_default();
    let Some((_, path, quantity, daily)) = APPLE.iter().find(|(name, ..)| *name == kind) else {
        collector.skipped += 1;
        return Ok(());
    };
    let Some(when) = element.attribute("startDate").and_then(mapping::when) else {
        collector.reject(position, format!("{kind}: no readable startDate"));
        return Ok(());
    };
    let raw = element.attribute("value").and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
    let unit = element.attribute("unit").unwrap_or_default();
    let Some(value) = raw.and_then(|v| quantity.convert(v, unit)) else {
        collector.reject(
            position,
            format!("{kind}: value {:?} in unit {unit:?} cannot be read", element.attribute("value")),
        );
        return Ok(());
    };
    let path = mapping::path(path)?;
    let tag = element.attribute("sourceName").and_then(tag_of);
    match daily {
        Some(kind) => collector.daily(position, &path, when.day, tag, value, *kind),
        None => collector.point(position, &path, Point { at: when.at, value, tag }, None),
    }
}

fn save_workout(
    element: &Element,
    position: &str,
    statistics_km: Option<f64>,
    collector: &mut Collector,
) -> Result<(), ImportError> {
    let Some(start) = element.attribute("startDate").and_then(mapping::when) else {
        collector.reject(position, "a workout without a readable startDate");
        return Ok(());
    };
    let number =
        |name: &str| element.attribute(name).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
    let km = number("totalDistance")
        .and_then(|d| Quantity::Distance.convert(d, element.attribute("totalDistanceUnit").unwrap_or("km")))
        .or(statistics_km);
    let minutes = number("duration")
        .and_then(|d| Quantity::Duration.convert(d, element.attribute("durationUnit").unwrap_or("min")));
    let (km_path, min_path) = activity_paths(element.attribute("workoutActivityType").unwrap_or_default());
    if let Some(km) = km {
        collector.point(position, &mapping::path(km_path)?, Point::new(start.at, km), None)?;
    }
    match minutes {
        Some(minutes) => collector.point(position, &mapping::path(min_path)?, Point::new(start.at, minutes), None),
        None if km.is_none() => {
            collector.reject(position, "a workout with neither a distance nor a duration");
            Ok(())
        }
        None => Ok(()),
    }
}
