//! Text that came from a peer, made safe to show. A business's name, a request's description,
//! a `service:` compensation or a peer's answer can carry terminal escapes (clear the screen,
//! set the window title), bidirectional overrides that reorder what is shown, or line breaks
//! that forge log lines. [`printable`] is the one rule for all of them: it runs where peer text
//! enters the engine, so nothing downstream (API, CLI, logs) sees the raw bytes.

/// `text` without control characters (C0, DEL, C1: an escape sequence loses its ESC and is
/// left as harmless text; line breaks and tabs become spaces) and without bidirectional
/// controls, cut at a character boundary to at most `max_bytes` bytes.
pub fn printable(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() || is_bidi_control(c) => continue,
            c => c,
        };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

/// Whether `text` is already what [`printable`] would make of it.
pub fn is_printable(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || is_bidi_control(c))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_controls_are_removed_and_length_is_capped() {
        let hostile = "Stride\u{1b}[2J\u{1b}]0;owned\u{7}\u{202E}evil\r\nline\u{9b}";
        let shown = printable(hostile, 1024);
        assert_eq!(shown, "Stride[2J]0;ownedevil  line");
        assert!(is_printable(&shown));
        assert!(!is_printable(hostile));
        assert_eq!(printable("ääää", 5), "ää");
        assert_eq!(printable("plain text", 1024), "plain text");
    }
}
