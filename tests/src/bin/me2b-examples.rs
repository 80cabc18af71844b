//! Writes the sample files of `examples/` into a folder: `me2b-examples [--today YYYY-MM-DD] DIR`
//! (default today: the committed files' anchor date). See `me2b_tests::examples`.

use me2b_proto::time::Date;
use std::path::PathBuf;

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut today = me2b_tests::examples::anchor();
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--today" => {
                let text = args.next().ok_or("--today needs a YYYY-MM-DD date")?;
                today = text.parse::<Date>().map_err(|e| e.to_string())?;
            }
            "-h" | "--help" => {
                println!("usage: me2b-examples [--today YYYY-MM-DD] DIR");
                return Ok(());
            }
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}; usage: me2b-examples [--today YYYY-MM-DD] DIR")),
        }
    }
    let dir = dir.ok_or("usage: me2b-examples [--today YYYY-MM-DD] DIR")?;
    for (path, content) in me2b_tests::examples::files(today) {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&file, content).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}
