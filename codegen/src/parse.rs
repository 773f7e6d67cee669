//! The parsing stage: XML text to a small element tree where every element and attribute keeps its [`Span`].

use crate::diag::{Diags, Sources, Span};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An attribute with its position.
#[derive(Clone, Debug)]
pub struct Attr {
    /// Attribute name.
    pub name: String,
    /// Unescaped value.
    pub value: String,
    /// Where the element holding it starts.
    pub span: Span,
}

/// An element with its attributes, child elements and text.
#[derive(Clone, Debug, Default)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Attributes in source order.
    pub attrs: Vec<Attr>,
    /// Child elements in source order.
    pub children: Vec<Element>,
    /// Concatenated text content.
    pub text: String,
    /// Where the start tag begins.
    pub span: Span,
}

impl Element {
    /// The value of an attribute.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// Parses one file; XML syntax errors are reported with their position.
pub fn parse(sources: &Sources, file: usize, diags: &mut Diags) -> Option<Element> {
    let text = sources.text(file);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                let span = Span {
                    file,
                    offset: reader.error_position() as usize,
                };
                diags.push(sources, span, format!("XML syntax error: {e}"));
                return None;
            }
        };
        // The tag starts at the first '<' after the previous event.
        let offset = text[before..]
            .find('<')
            .map(|i| before + i)
            .unwrap_or(before);
        let span = Span { file, offset };
        match event {
            Event::Start(start) => stack.push(element(&start, span, sources, diags)),
            Event::Empty(start) => {
                let el = element(&start, span, sources, diags);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else { continue };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    match t.unescape() {
                        Ok(s) => top.text.push_str(&s),
                        Err(e) => diags.push(sources, span, format!("bad text: {e}")),
                    }
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if root.is_none() {
        diags.push(sources, Span { file, offset: 0 }, "no root element");
    }
    root
}

fn element(start: &BytesStart<'_>, span: Span, sources: &Sources, diags: &mut Diags) -> Element {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in start.attributes() {
        match a {
            Ok(a) => {
                let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                match a.unescape_value() {
                    Ok(v) => attrs.push(Attr {
                        name: key,
                        value: v.into_owned(),
                        span,
                    }),
                    Err(e) => diags.push(
                        sources,
                        span,
                        format!("bad value of attribute `{key}`: {e}"),
                    ),
                }
            }
            Err(e) => diags.push(sources, span, format!("bad attribute: {e}")),
        }
    }
    Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
        span,
    }
}
