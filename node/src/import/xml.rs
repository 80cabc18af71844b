//! A thin pull reader over quick-xml for the importers: elements by local name (namespace
//! prefixes dropped, as GPX extensions and TCX use them freely), attribute values unescaped,
//! text with its entities resolved, and the line each event ends on.

use super::ImportError;
use quick_xml::events::{BytesStart, Event};
use std::io::{BufRead, Read};

/// Counts the lines a reader has handed out, so that an error can say where it is.
pub(crate) struct Lines<R> {
    inner: R,
    line: u64,
}

impl<R> Lines<R> {
    pub(crate) fn new(inner: R) -> Self {
        Lines { inner, line: 1 }
    }

    /// The line the next byte is on.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            let amount = amount.min(buffer.len());
            self.line += buffer[..amount].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.inner.consume(amount);
    }
}

/// What the importers see of a document.
pub(crate) enum Node {
    /// An element opens (an empty one is followed by its close).
    Open(Element),
    /// An element closes.
    Close(String),
    /// Text (or CDATA) inside the current element.
    Text(String),
    /// The document ended.
    End,
}

/// An opening tag.
pub(crate) struct Element {
    /// Its local name.
    pub name: String,
    attributes: Vec<(String, String)>,
}

impl Element {
    /// The value of the attribute with this local name.
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Reads XML node by node.
pub(crate) struct Xml<R: BufRead> {
    reader: quick_xml::Reader<Lines<R>>,
    buffer: Vec<u8>,
    depth: usize,
}

/// Deepest nesting accepted: the formats are shallow, a deeper file is malformed or hostile.
const MAX_DEPTH: usize = 64;

impl<R: BufRead> Xml<R> {
    pub(crate) fn new(input: R) -> Self {
        let mut reader = quick_xml::Reader::from_reader(Lines::new(input));
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.trim_text(true);
        Xml { reader, buffer: Vec::new(), depth: 0 }
    }

    /// `line N`, where the reader is.
    pub(crate) fn position(&self) -> String {
        format!("line {}", self.reader.get_ref().line())
    }

    /// An error at the reader's position.
    pub(crate) fn error(&self, reason: impl Into<String>) -> ImportError {
        ImportError::new(self.position(), reason)
    }

    /// The next node.
    pub(crate) fn next(&mut self) -> Result<Node, ImportError> {
        loop {
            self.buffer.clear();
            let event = match self.reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(error) => {
                    let reason = format!("not well-formed XML: {error}");
                    return Err(ImportError::new(format!("line {}", self.reader.get_ref().line()), reason));
                }
            };
            let line = self.reader.get_ref().line();
            let malformed = |reason: String| ImportError::new(format!("line {line}"), reason);
            return Ok(match event {
                Event::Start(start) => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(malformed(format!("nested deeper than {MAX_DEPTH} elements")));
                    }
                    Node::Open(element(&start).map_err(malformed)?)
                }
                Event::End(end) => {
                    self.depth = self.depth.saturating_sub(1);
                    Node::Close(end.local_name().as_ref().to_owned())
                }
                Event::Text(text) => Node::Text(text.xml10_content().into_owned()),
                Event::CData(data) => Node::Text(data.as_ref().to_owned()),
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => match reference.as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            _ => String::new(),
                        },
                        Err(error) => return Err(malformed(format!("bad character reference: {error}"))),
                    };
                    Node::Text(resolved)
                }
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(malformed("the file ends inside an element (truncated?)".into()));
                    }
                    Node::End
                }
                _ => continue,
            });
        }
    }

    /// The text of the element just opened, up to its close; nested elements are skipped.
    pub(crate) fn text(&mut self) -> Result<String, ImportError> {
        let mut text = String::new();
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Node::Text(t) if depth == 0 => {
                    if text.len() + t.len() > MAX_TEXT {
                        return Err(self.error("an element's text is too long"));
                    }
                    text.push_str(&t);
                }
                Node::Text(_) => {}
                Node::Open(_) => depth += 1,
                Node::Close(_) if depth == 0 => return Ok(text),
                Node::Close(_) => depth -= 1,
                Node::End => return Err(self.error("the file ends inside an element (truncated?)")),
            }
        }
    }
}

/// Longest text of one element an importer reads.
const MAX_TEXT: usize = 4096;

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.local_name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad attribute value in <{name}>: {e}"))?;
        let key = attribute.key.local_name().as_ref().to_owned();
        attributes.push((key, value.into_owned()));
    }
    Ok(Element { name, attributes })
}
