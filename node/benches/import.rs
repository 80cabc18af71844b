//! `cargo bench -p me2b-node --bench import [-- --quick]`: how fast and in how much memory a
//! large Apple Health export (100 MiB; 10 MiB with `--quick`) is imported, next to a baseline
//! measured in the same run on the same file: a bare quick-xml pass that reads every event and
//! does nothing with it (the floor of any streaming XML importer).
//!
//! For each: MiB/s, records/s (the `<Record>` and `<Workout>` elements), and the peak resident
//! memory while it ran (Linux's VmHWM, reset before each phase through `/proc/self/clear_refs`),
//! as growth over the resident memory before it. Then the engine's share: the collected
//! changes applied to a real node (sled on disk) as one `Command::Import`, durable on return.
//! The file is made by `me2b_tests::examples::apple_export_into` (about 31 KiB a day).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use me2b_node::clock::now;
use me2b_node::import::{self, Format};
use me2b_node::{Node, NodeConfig, Transport};
use me2b_proto::engine::{Command, Handled, Provenance, Role};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// `fmt::Write` over a buffered file, for the generator.
struct FileText(BufWriter<File>);

impl std::fmt::Write for FileText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

fn status_kib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// Runs `phase` and returns its result, its duration and how far the peak resident memory
/// rose above the resident memory before it (MiB).
fn measured<R>(phase: impl FnOnce() -> R) -> (R, Duration, f64) {
    // "5" resets the peak (VmHWM) to the current resident size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS:");
    let start = Instant::now();
    let result = phase();
    let elapsed = start.elapsed();
    let peak = status_kib("VmHWM:");
    (result, elapsed, (peak - before).max(0.0) / 1024.0)
}

fn bare_pass(file: &Path) -> u64 {
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, File::open(file).unwrap()));
    let mut buffer = Vec::new();
    let mut records = 0u64;
    loop {
        match reader.read_event_into(&mut buffer).unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if matches!(e.local_name().as_ref(), "Record" | "Workout") =>
            {
                records += 1;
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    records
}

fn row(figure: &str, me2b: String, baseline: String, ratio: String) {
    println!("{figure:<34} {me2b:>16} {baseline:>16} {ratio:>8}");
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let mib: u64 = if quick { 10 } else { 100 };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.xml");
    let days = (mib * 1024 / 31) as i64;
    let mut out = FileText(BufWriter::new(File::create(&file).unwrap()));
    me2b_tests::examples::apple_export_into(me2b_tests::examples::anchor(), days, &mut out);
    out.0.flush().unwrap();
    drop(out);
    let size = std::fs::metadata(&file).unwrap().len() as f64 / (1024.0 * 1024.0);
    println!("import bench: an Apple Health export of {days} days, {size:.1} MiB\n");

    let (records, bare_time, bare_peak) = measured(|| bare_pass(&file));
    let (collector, read_time, read_peak) = measured(|| {
        let input = BufReader::with_capacity(64 * 1024, File::open(&file).unwrap());
        import::read(&Format::AppleHealth, input).unwrap()
    });
    let entries = collector.entries;
    let (updates, rejected, _) = collector.finish();
    assert!(rejected.is_empty(), "{rejected:?}");

    row("figure", "me2b".into(), "bare quick-xml".into(), "ratio".into());
    let rate = |d: Duration| size / d.as_secs_f64();
    row(
        "read (MiB/s)",
        format!("{:.1}", rate(read_time)),
        format!("{:.1}", rate(bare_time)),
        format!("{:.2}x", read_time.as_secs_f64() / bare_time.as_secs_f64()),
    );
    row(
        "records/s",
        format!("{:.0}", records as f64 / read_time.as_secs_f64()),
        format!("{:.0}", records as f64 / bare_time.as_secs_f64()),
        String::new(),
    );
    row("peak memory growth (MiB)", format!("{read_peak:.1}"), format!("{bare_peak:.1}"), String::new());
    println!("  ({records} records, {entries} values read)");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (counts, apply_time, _) = measured(|| {
        runtime.block_on(async {
            let mut config = NodeConfig::new(Role::Person, dir.path().join("store"));
            config.transport = Transport::Memory;
            config.listen = Vec::new();
            let node = Node::start([7; 32], config).await.unwrap();
            let provenance = Provenance::Import(import::source(&Format::AppleHealth, "export.xml", now()));
            let start = Instant::now();
            let answer = node.command(Command::Import { updates, provenance }).await.unwrap();
            let Handled::Imported(counts) = answer else { panic!("import counts") };
            (counts, start.elapsed())
        })
    });
    let (counts, apply) = counts;
    let _ = apply_time;
    println!(
        "\napply as one transaction (sled, durable): {:.1} ms for {} points and values added",
        apply.as_secs_f64() * 1000.0,
        counts.added
    );
}
