//! A JSON value read straight from text: strings borrowed from the input when they hold no
//! escape, objects as lists of pairs. Reading a policy through it costs no `serde_json::Value`
//! (an owned string per key and value, an index map per object); it reads exactly what
//! `serde_json::Value` reads, and refuses an object that repeats a key (the caller then takes
//! the `Value` path, whose map keeps the last of the repeated values).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value as Json};

/// A JSON value borrowing its strings from the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as `serde_json` reads it.
    Number(Number),
    /// A string.
    String(Cow<'a, str>),
    /// A list.
    Array(Vec<Tree<'a>>),
    /// An object, its keys in the order written (no key twice).
    Object(Vec<(Cow<'a, str>, Tree<'a>)>),
}

impl<'a> Tree<'a> {
    /// Read a value from JSON text (`Err` for invalid JSON and for an object that repeats a key).
    pub fn parse(text: &'a str) -> Result<Tree<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// How deeply lists and objects nest (0 for a scalar).
    pub fn depth(&self) -> usize {
        match self {
            Tree::Array(items) => 1 + items.iter().map(Tree::depth).max().unwrap_or(0),
            Tree::Object(entries) => 1 + entries.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The same value as a `serde_json::Value`.
    pub fn to_json(&self) -> Json {
        match self {
            Tree::Null => Json::Null,
            Tree::Bool(b) => Json::Bool(*b),
            Tree::Number(n) => Json::Number(n.clone()),
            Tree::String(s) => Json::String(s.to_string()),
            Tree::Array(items) => Json::Array(items.iter().map(Tree::to_json).collect()),
            Tree::Object(entries) => Json::Object(entries.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
        }
    }
}

/// Whether some key appears twice.
fn repeats_a_key(entries: &[(Cow<'_, str>, Tree<'_>)]) -> bool {
    if entries.len() <= 16 {
        return entries.iter().enumerate().any(|(i, (k, _))| entries[..i].iter().any(|(k2, _)| k2 == k));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| &**k).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

/// A string, borrowed when the text holds it without escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Tree<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor(std::marker::PhantomData))
    }
}

struct TreeVisitor<'a>(std::marker::PhantomData<&'a ()>);

// Mirrors serde_json's own `Value` visitor, so that numbers read the same.
impl<'de: 'a, 'a> Visitor<'de> for TreeVisitor<'a> {
    type Value = Tree<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Tree<'a>, E> {
        Ok(Tree::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Tree<'a>, E> {
        Ok(Tree::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Tree<'a>, E> {
        Ok(Tree::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Tree<'a>, E> {
        Ok(Number::from_f64(n).map_or(Tree::Null, Tree::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Tree<'a>, E> {
        Ok(Tree::String(Cow::Borrowed(s)))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Tree<'a>, E> {
        Ok(Tree::String(Cow::Owned(s.to_string())))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Tree<'a>, E> {
        Ok(Tree::String(Cow::Owned(s)))
    }
    fn visit_none<E>(self) -> Result<Tree<'a>, E> {
        Ok(Tree::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree<'a>, D::Error> {
        Deserialize::deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<Tree<'a>, E> {
        Ok(Tree::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree<'a>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree<'a>, A::Error> {
        let mut entries = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            entries.push((k, map.next_value()?));
        }
        if repeats_a_key(&entries) {
            return Err(de::Error::custom("an object repeats a key"));
        }
        Ok(Tree::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"a": [1, -2, 3.5, 1e3, true, null, "x\"y", "plain"], "b": {"c": {}}, "é\n": []}"#;
        let t = Tree::parse(text).unwrap();
        assert_eq!(t.to_json(), serde_json::from_str::<Json>(text).unwrap());
        assert_eq!(t.depth(), 3);
        let Tree::Object(e) = &t else { panic!("an object") };
        assert!(matches!(&e[0].0, Cow::Borrowed("a")));
        assert!(matches!(&e[2].0, Cow::Owned(k) if k == "é\n"));
    }

    #[test]
    fn refuses_repeated_keys_and_what_serde_json_refuses() {
        assert!(Tree::parse(r#"{"a": 1, "a": 2}"#).is_err());
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\": {i}", i % 39)).collect();
        assert!(Tree::parse(&format!("{{{}}}", many.join(","))).is_err());
        let distinct: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        assert!(Tree::parse(&format!("{{{}}}", distinct.join(","))).is_ok());
        for text in ["[1e400]", r#"["\ud800"]"#, r#"["\ud800\udc00"]"#, "{} x", "[1,]", "\"\u{1}\"", "-0", "1.0e-400"] {
            let ours = Tree::parse(text).map(|t| t.to_json()).map_err(|_| ());
            let theirs = serde_json::from_str::<Json>(text).map_err(|_| ());
            assert_eq!(ours, theirs, "{text}");
        }
    }
}
