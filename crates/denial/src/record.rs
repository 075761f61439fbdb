//! The fields of one CloudTrail event that explain's reader uses, borrowed: either straight from
//! the event's JSON text (one pass, no map built; strings without escapes are not copied), or from
//! an already parsed `serde_json::Map`. Both give the same record, so a finding read from either is
//! the same (`event_finding` reads a map through [`EventRecord::from_map`]).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// One JSON value as the reader sees it: a string, or which other kind of value it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Field<'a> {
    /// The key is not there.
    #[default]
    Absent,
    /// A string (borrowed when its JSON text has no escapes).
    Str(Cow<'a, str>),
    /// Another kind of value: `null`, `a boolean`, `a number`, `an array`, `an object`.
    Other(&'static str),
}

impl<'a> Field<'a> {
    /// The string, empty or not.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string when it is not empty (what explain's reader takes as "given").
    pub fn text(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }

    /// What kind of JSON value this is, as [`crate::json_kind`] says it; `None` when absent.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Field::Absent => None,
            Field::Str(_) => Some("a string"),
            Field::Other(k) => Some(k),
        }
    }

    fn of_value(v: &'a Value) -> Field<'a> {
        match v {
            Value::String(s) => Field::Str(Cow::Borrowed(s)),
            other => Field::Other(crate::cloudtrail::kind_of(other)),
        }
    }
}

/// The `userIdentity` fields the reader uses (each a non-empty string, else `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    /// `type`.
    pub kind: Option<Cow<'a, str>>,
    /// `arn`.
    pub arn: Option<Cow<'a, str>>,
    /// `invokedBy`.
    pub invoked_by: Option<Cow<'a, str>>,
    /// `accountId`.
    pub account_id: Option<Cow<'a, str>>,
    /// `userName`.
    pub user_name: Option<Cow<'a, str>>,
    /// `principalId`.
    pub principal_id: Option<Cow<'a, str>>,
    /// `sessionContext.sessionIssuer.arn`.
    pub session_issuer: Option<Cow<'a, str>>,
}

/// The fields of one event that explain's CloudTrail reader uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventRecord<'a> {
    /// `errorCode`.
    pub error_code: Field<'a>,
    /// `errorMessage`.
    pub error_message: Field<'a>,
    /// `eventSource`.
    pub event_source: Field<'a>,
    /// `eventName`.
    pub event_name: Field<'a>,
    /// `eventTime`.
    pub event_time: Field<'a>,
    /// `awsRegion`.
    pub region: Field<'a>,
    /// `sourceIPAddress`.
    pub source_ip: Field<'a>,
    /// `userAgent`.
    pub user_agent: Field<'a>,
    /// `eventID`.
    pub event_id: Field<'a>,
    /// `requestID`.
    pub request_id: Field<'a>,
    /// `recipientAccountId`.
    pub recipient_account: Field<'a>,
    /// `userIdentity`: its kind (an object, else what it was).
    pub user_identity: Field<'a>,
    /// The identity's fields, when `userIdentity` is an object.
    pub identity: Identity<'a>,
    /// The first `resources[]` entry's `ARN` (or, without an `ARN` key, `arn`) that is a string.
    pub resource_arn: Option<Cow<'a, str>>,
}

fn nonempty(f: Field<'_>) -> Option<Cow<'_, str>> {
    match f {
        Field::Str(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

impl<'a> EventRecord<'a> {
    /// Read the fields from an event's JSON text (an object; anything else is an error).
    pub fn from_json(text: &'a str) -> Result<EventRecord<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let r = de.deserialize_map(RecordVisitor)?;
        de.end()?;
        Ok(r)
    }

    /// The same fields from a parsed event.
    pub fn from_map(ev: &'a Map<String, Value>) -> EventRecord<'a> {
        let f = |k: &str| ev.get(k).map_or(Field::Absent, Field::of_value);
        let mut r = EventRecord {
            error_code: f("errorCode"),
            error_message: f("errorMessage"),
            event_source: f("eventSource"),
            event_name: f("eventName"),
            event_time: f("eventTime"),
            region: f("awsRegion"),
            source_ip: f("sourceIPAddress"),
            user_agent: f("userAgent"),
            event_id: f("eventID"),
            request_id: f("requestID"),
            recipient_account: f("recipientAccountId"),
            user_identity: f("userIdentity"),
            identity: Identity::default(),
            resource_arn: None,
        };
        if let Some(i) = ev.get("userIdentity").and_then(Value::as_object) {
            let s = |k: &str| i.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(Cow::Borrowed);
            r.identity = Identity {
                kind: s("type"),
                arn: s("arn"),
                invoked_by: s("invokedBy"),
                account_id: s("accountId"),
                user_name: s("userName"),
                principal_id: s("principalId"),
                session_issuer: i
                    .get("sessionContext")
                    .and_then(|c| c.get("sessionIssuer"))
                    .and_then(|c| c.get("arn"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(Cow::Borrowed),
            };
        }
        r.resource_arn = ev
            .get("resources")
            .and_then(Value::as_array)
            .and_then(|rs| rs.iter().find_map(|r| r.get("ARN").or_else(|| r.get("arn")).and_then(Value::as_str)))
            .map(Cow::Borrowed);
        r
    }
}

/// The top-level keys the reader uses.
#[derive(Clone, Copy)]
enum Key {
    ErrorCode,
    ErrorMessage,
    EventSource,
    EventName,
    EventTime,
    Region,
    SourceIp,
    UserAgent,
    EventId,
    RequestId,
    RecipientAccount,
    UserIdentity,
    Resources,
    Other,
}

struct KeySeed<F>(F);

impl<'de, T, F: Fn(&str) -> T> DeserializeSeed<'de> for KeySeed<F> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, T, F: Fn(&str) -> T> Visitor<'de> for KeySeed<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

fn top_key(k: &str) -> Key {
    match k {
        "errorCode" => Key::ErrorCode,
        "errorMessage" => Key::ErrorMessage,
        "eventSource" => Key::EventSource,
        "eventName" => Key::EventName,
        "eventTime" => Key::EventTime,
        "awsRegion" => Key::Region,
        "sourceIPAddress" => Key::SourceIp,
        "userAgent" => Key::UserAgent,
        "eventID" => Key::EventId,
        "requestID" => Key::RequestId,
        "recipientAccountId" => Key::RecipientAccount,
        "userIdentity" => Key::UserIdentity,
        "resources" => Key::Resources,
        _ => Key::Other,
    }
}

/// Any value, kept when it is a string.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field<'de>, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field<'de>, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field<'de>, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an object"))
    }
}

/// The top-level event.
struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = EventRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail event (a JSON object)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventRecord<'de>, A::Error> {
        let mut r = EventRecord::default();
        while let Some(key) = map.next_key_seed(KeySeed(top_key))? {
            let slot = match key {
                Key::ErrorCode => &mut r.error_code,
                Key::ErrorMessage => &mut r.error_message,
                Key::EventSource => &mut r.event_source,
                Key::EventName => &mut r.event_name,
                Key::EventTime => &mut r.event_time,
                Key::Region => &mut r.region,
                Key::SourceIp => &mut r.source_ip,
                Key::UserAgent => &mut r.user_agent,
                Key::EventId => &mut r.event_id,
                Key::RequestId => &mut r.request_id,
                Key::RecipientAccount => &mut r.recipient_account,
                Key::UserIdentity => {
                    let (kind, identity) = map.next_value_seed(IdentitySeed)?;
                    r.user_identity = kind;
                    r.identity = identity;
                    continue;
                }
                Key::Resources => {
                    r.resource_arn = map.next_value_seed(ResourcesSeed)?;
                    continue;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value_seed(FieldSeed)?;
        }
        Ok(r)
    }
}

/// `userIdentity`: its kind, and its fields when it is an object.
struct IdentitySeed;

impl<'de> DeserializeSeed<'de> for IdentitySeed {
    type Value = (Field<'de>, Identity<'de>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IdentitySeed {
    type Value = (Field<'de>, Identity<'de>);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut i = Identity::default();
        #[derive(Clone, Copy)]
        enum K {
            Type,
            Arn,
            InvokedBy,
            AccountId,
            UserName,
            PrincipalId,
            SessionContext,
            Other,
        }
        let key = |k: &str| match k {
            "type" => K::Type,
            "arn" => K::Arn,
            "invokedBy" => K::InvokedBy,
            "accountId" => K::AccountId,
            "userName" => K::UserName,
            "principalId" => K::PrincipalId,
            "sessionContext" => K::SessionContext,
            _ => K::Other,
        };
        while let Some(k) = map.next_key_seed(KeySeed(key))? {
            let slot = match k {
                K::Type => &mut i.kind,
                K::Arn => &mut i.arn,
                K::InvokedBy => &mut i.invoked_by,
                K::AccountId => &mut i.account_id,
                K::UserName => &mut i.user_name,
                K::PrincipalId => &mut i.principal_id,
                K::SessionContext => {
                    i.session_issuer = map.next_value_seed(PathSeed(&["sessionIssuer", "arn"]))?.and_then(nonempty);
                    continue;
                }
                K::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = nonempty(map.next_value_seed(FieldSeed)?);
        }
        Ok((Field::Other("an object"), i))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        FieldSeed.visit_borrowed_str(v).map(|f| (f, Identity::default()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        FieldSeed.visit_str(v).map(|f| (f, Identity::default()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        FieldSeed.visit_string(v).map(|f| (f, Identity::default()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((Field::Other("null"), Identity::default()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok((Field::Other("a boolean"), Identity::default()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok((Field::Other("a number"), Identity::default()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok((Field::Other("a number"), Identity::default()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok((Field::Other("a number"), Identity::default()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        FieldSeed.visit_seq(seq).map(|f| (f, Identity::default()))
    }
}

/// The value at a path of object keys (`sessionIssuer.arn`); `None` when a step is not an object or
/// has no such key. Like `serde_json::Value::get` along the path: the last duplicate key wins.
struct PathSeed<'p>(&'p [&'p str]);

impl<'de> DeserializeSeed<'de> for PathSeed<'_> {
    type Value = Option<Field<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.0.is_empty() {
            return FieldSeed.deserialize(d).map(Some);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PathSeed<'_> {
    type Value = Option<Field<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (first, rest) = (self.0[0], &self.0[1..]);
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeySeed(|k: &str| k == first))? {
            if hit {
                found = map.next_value_seed(PathSeed(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `resources`: the first entry whose `ARN` (or, without an `ARN` key, `arn`) is a string.
struct ResourcesSeed;

impl<'de> DeserializeSeed<'de> for ResourcesSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(entry) = seq.next_element_seed(ResourceSeed)? {
            if found.is_none() {
                found = entry;
            }
        }
        Ok(found)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One `resources[]` entry: its `ARN` if it has that key, else its `arn`, when a string.
struct ResourceSeed;

impl<'de> DeserializeSeed<'de> for ResourceSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResourceSeed {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut upper, mut lower) = (Field::Absent, Field::Absent);
        #[derive(Clone, Copy)]
        enum K {
            Upper,
            Lower,
            Other,
        }
        while let Some(k) = map.next_key_seed(KeySeed(|k: &str| match k {
            "ARN" => K::Upper,
            "arn" => K::Lower,
            _ => K::Other,
        }))? {
            match k {
                K::Upper => upper = map.next_value_seed(FieldSeed)?,
                K::Lower => lower = map.next_value_seed(FieldSeed)?,
                K::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let chosen = if matches!(upper, Field::Absent) { lower } else { upper };
        Ok(match chosen {
            Field::Str(s) => Some(s),
            _ => None,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record read from the text and from the parsed map are the same, for every shape the
    /// reader meets: escapes, wrong types, duplicate keys, nested identities, odd resources.
    #[test]
    fn from_json_and_from_map_agree() {
        let events = [
            r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s","arn":"arn:aws:sts::1:assumed-role/r/s","accountId":"1","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/r"},"attributes":{"x":"y"}}},"eventTime":"2025-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-cli/2","errorCode":"AccessDenied","errorMessage":"User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\"\n","requestParameters":{"bucketName":"b","errorCode":"x"},"requestID":"R","eventID":"E","resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"}],"recipientAccountId":"1"}"#,
            r#"{"eventSource":"ec2.amazonaws.com","eventName":7,"errorCode":null,"eventTime":{"a":1},"userIdentity":"root","resources":[{"arn":"x"},{"ARN":"y"}]}"#,
            r#"{"eventSource":"","eventName":"A","errorCode":"X","userIdentity":{"type":"","arn":"a","sessionContext":[1]},"resources":[{"ARN":null,"arn":"lower"},{"arn":"second"}],"eventID":"\u0041b"}"#,
            r#"{"errorCode":"A","errorCode":"B","userIdentity":{"arn":"x"},"userIdentity":{"userName":"u","sessionContext":{"sessionIssuer":{"arn":"1"},"sessionIssuer":{"arn":""}}},"resources":"x","resources":[[],3,{"ARN":""}]}"#,
            r#"{"userIdentity":{"sessionContext":{"sessionIssuer":"s"}},"resources":{"ARN":"x"},"awsRegion":true,"sourceIPAddress":1.5,"userAgent":-1,"requestID":[],"recipientAccountId":{}}"#,
            r#"{}"#,
        ];
        for text in events {
            let v: Value = serde_json::from_str(text).unwrap();
            let from_map = EventRecord::from_map(v.as_object().unwrap());
            let from_json = EventRecord::from_json(text).unwrap();
            assert_eq!(from_json, from_map, "{text}");
        }
        let r = EventRecord::from_json(events[0]).unwrap();
        assert!(matches!(r.event_name, Field::Str(Cow::Borrowed("GetObject"))), "strings without escapes are borrowed");
        assert!(matches!(r.error_message, Field::Str(Cow::Owned(_))));
        assert!(EventRecord::from_json("[1]").is_err());
        assert!(EventRecord::from_json("{} x").is_err());
    }
}
