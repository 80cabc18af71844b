//! Activities from GPX 1.1 and TCX: one point per activity, at its start, of its distance
//! (km) and duration (minutes), tagged with the gear when the file names it (an element named
//! `gear` or `shoe`, in any namespace, in the track's or the file's extensions).

use super::mapping::{self, When, activity_paths};
use super::xml::{Node, Xml};
use super::{Collector, ImportError, tag_of};
use me2b_proto::value::Point;
use std::io::BufRead;

/// One activity, as read.
#[derive(Debug, Default)]
struct Activity {
    kind: String,
    gear: Option<String>,
    id: Option<String>,
    start: Option<When>,
    end: Option<When>,
    meters: f64,
    seconds: Option<f64>,
    /// The previous point of the current segment.
    previous: Option<(f64, f64)>,
    /// Why the activity cannot be imported, once known.
    broken: Option<String>,
}

impl Activity {
    fn time(&mut self, when: When) {
        if self.start.is_none_or(|start| when.at < start.at) {
            self.start = Some(when);
        }
        if self.end.is_none_or(|end| when.at > end.at) {
            self.end = Some(when);
        }
    }

    fn save(self, position: &str, collector: &mut Collector) -> Result<(), ImportError> {
        if let Some(reason) = self.broken {
            collector.reject(position, reason);
            return Ok(());
        }
        let (Some(start), Some(end)) = (self.start, self.end) else {
            collector.reject(position, "an activity without times cannot be placed in time");
            return Ok(());
        };
        let minutes = self.seconds.map_or((end.at.as_millis() - start.at.as_millis()) as f64 / 60_000.0, |s| s / 60.0);
        let (km_path, min_path) = activity_paths(&self.kind);
        let tag = self.gear.as_deref().and_then(tag_of);
        let point = |value: f64| Point { at: start.at, value, tag: tag.clone() };
        collector.point(position, &mapping::path(km_path)?, point(self.meters / 1000.0), self.id.clone())?;
        collector.point(position, &mapping::path(min_path)?, point(minutes), self.id)?;
        Ok(())
    }
}

/// Great-circle distance in metres (haversine, mean Earth radius).
fn metres((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let (dphi, dlambda) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

fn coordinate(value: Option<&str>, limit: f64) -> Option<f64> {
    value?.trim().parse::<f64>().ok().filter(|v| v.is_finite() && v.abs() <= limit)
}

/// Reads GPX 1.1: every `<trk>` is an activity; `<type>` names its kind.
pub(super) fn gpx(input: impl BufRead, collector: &mut Collector) -> Result<(), ImportError> {
    let mut xml = Xml::new(input);
    let mut stack: Vec<String> = Vec::new();
    let mut file_gear: Option<String> = None;
    let mut track: Option<(Activity, String)> = None;
    let mut point: Option<(f64, f64)> = None;
    let mut saw_gpx = false;
    loop {
        match xml.next()? {
            Node::Open(element) => {
                let parent = stack.last().map(String::as_str);
                match (element.name.as_str(), parent) {
                    ("gpx", None) => saw_gpx = true,
                    (_, None) => return Err(xml.error(format!("<{}> is not a GPX file's root", element.name))),
                    ("trk", _) => {
                        let activity = Activity { gear: file_gear.clone(), ..Activity::default() };
                        track = Some((activity, xml.position()));
                    }
                    ("gear" | "shoe", _) => {
                        let name = xml.text()?;
                        match track.as_mut() {
                            Some((activity, _)) => activity.gear = Some(name),
                            None => file_gear = Some(name),
                        }
                        continue;
                    }
                    ("type", Some("trk")) | ("name", Some("trk")) => {
                        let text = xml.text()?;
                        if let Some((activity, _)) = track.as_mut() {
                            if element.name == "type" {
                                activity.kind = text;
                            } else {
                                activity.id = Some(text);
                            }
                        }
                        continue;
                    }
                    ("trkseg", _) => {
                        if let Some((activity, _)) = track.as_mut() {
                            activity.previous = None;
                        }
                    }
                    ("trkpt", _) => {
                        let at =
                            (coordinate(element.attribute("lat"), 90.0), coordinate(element.attribute("lon"), 180.0));
                        point = match at {
                            (Some(lat), Some(lon)) => Some((lat, lon)),
                            _ => {
                                if let Some((activity, _)) = track.as_mut() {
                                    let reason = format!("{}: a track point without a valid lat/lon", xml.position());
                                    activity.broken.get_or_insert(reason);
                                }
                                None
                            }
                        };
                    }
                    ("time", Some("trkpt")) => {
                        let text = xml.text()?;
                        let position = xml.position();
                        if let Some((activity, _)) = track.as_mut() {
                            match mapping::when(&text) {
                                Some(when) => activity.time(when),
                                None => {
                                    activity.broken.get_or_insert(format!("{position}: unreadable time {text:?}"));
                                }
                            }
                        }
                        continue;
                    }
                    _ => {}
                }
                stack.push(element.name);
            }
            Node::Close(name) => {
                stack.pop();
                match name.as_str() {
                    "trkpt" => {
                        if let (Some((activity, _)), Some(here)) = (track.as_mut(), point.take()) {
                            if let Some(previous) = activity.previous {
                                activity.meters += metres(previous, here);
                            }
                            activity.previous = Some(here);
                        }
                    }
                    "trk" => {
                        if let Some((activity, position)) = track.take() {
                            activity.save(&position, collector)?;
                        }
                    }
                    _ => {}
                }
            }
            Node::Text(_) => {}
            Node::End => break,
        }
    }
    if !saw_gpx {
        return Err(xml.error("no <gpx> element: not a GPX file"));
    }
    Ok(())
}

/// Reads TCX: every `<Activity>` is one; its laps' `TotalTimeSeconds` and `DistanceMeters`
/// add up, its `Id` is its start time and original id.
pub(super) fn tcx(input: impl BufRead, collector: &mut Collector) -> Result<(), ImportError> {
    let mut xml = Xml::new(input);
    let mut stack: Vec<String> = Vec::new();
    let mut activity: Option<(Activity, String)> = None;
    let mut saw_root = false;
    loop {
        match xml.next()? {
            Node::Open(element) => {
                let parent = stack.last().map(String::as_str);
                match (element.name.as_str(), parent) {
                    ("TrainingCenterDatabase", None) => saw_root = true,
                    (_, None) => return Err(xml.error(format!("<{}> is not a TCX file's root", element.name))),
                    ("Activity", _) => {
                        let kind = element.attribute("Sport").unwrap_or("Other").to_owned();
                        activity = Some((Activity { kind, ..Activity::default() }, xml.position()));
                    }
                    ("gear" | "shoe", _) => {
                        let name = xml.text()?;
                        if let Some((current, _)) = activity.as_mut() {
                            current.gear = Some(name);
                        }
                        continue;
                    }
                    ("Id", Some("Activity")) => {
                        let text = xml.text()?;
                        let position = xml.position();
                        if let Some((current, _)) = activity.as_mut() {
                            match mapping::when(&text) {
                                Some(when) => current.time(when),
                                None => {
                                    current.broken.get_or_insert(format!("{position}: unreadable Id time {text:?}"));
                                }
                            }
                            current.id = Some(text);
                        }
                        continue;
                    }
                    ("Time", Some("Trackpoint")) => {
                        let text = xml.text()?;
                        if let (Some((current, _)), Some(when)) = (activity.as_mut(), mapping::when(&text)) {
                            current.time(when);
                        }
                        continue;
                    }
                    ("TotalTimeSeconds" | "DistanceMeters", Some("Lap")) => {
                        let text = xml.text()?;
                        let position = xml.position();
                        if let Some((current, _)) = activity.as_mut() {
                            match text.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0) {
                                Some(value) if element.name == "DistanceMeters" => current.meters += value,
                                Some(value) => *current.seconds.get_or_insert(0.0) += value,
                                None => {
                                    let reason = format!("{position}: {} is not a number: {text:?}", element.name);
                                    current.broken.get_or_insert(reason);
                                }
                            }
                        }
                        continue;
                    }
                    _ => {}
                }
                stack.push(element.name);
            }
            Node::Close(name) => {
                stack.pop();
                if name == "Activity"
                    && let Some((current, position)) = activity.take()
                {
                    current.save(&position, collector)?;
                }
            }
            Node::Text(_) => {}
            Node::End => break,
        }
    }
    if !saw_root {
        return Err(xml.error("no <TrainingCenterDatabase> element: not a TCX file"));
    }
    Ok(())
}
