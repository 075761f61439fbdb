//! New policies: an `inline_policy` block or a new `aws_iam_role_policy` after the role, a new
//! `aws_s3_bucket_policy` / `aws_sqs_queue_policy` / `aws_secretsmanager_secret_policy` after
//! the resource it protects.

use hcl_edit::Span;
use serde_json::Value as Json;

use super::edit::Where;
use super::locate::{Detail, Form};
use super::state::{key_suffix, Instance, State};
use super::style::Style;
use super::{context, hcl, render_policy, with_edits};
use crate::model::{FileEdit, IacError, Located, Patched, Sources, Wanted};

/// How the configuration refers to `prefix` (`aws_iam_role.deploy`): `id` or `name`.
fn ref_attr(text: &str, prefix: &str, default: &'static str) -> &'static str {
    let (mut id, mut name) = (0, 0);
    for (i, _) in text.match_indices(prefix) {
        let mut rest = &text[i + prefix.len()..];
        if rest.starts_with('[') {
            rest = rest.find(']').map(|j| &rest[j + 1..]).unwrap_or("");
        }
        if rest.starts_with(".id") && !rest[3..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            id += 1;
        } else if rest.starts_with(".name") && !rest[5..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            name += 1;
        }
    }
    if name > id {
        "name"
    } else if id > name {
        "id"
    } else {
        default
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// Create the new policy of `d.form`.
pub fn create(wanted: &Wanted, located: &Located, sources: &Sources, st: &State, inst: &Instance, d: &Detail) -> Result<Patched, IacError> {
    let fail = |m: String| IacError::new(&located.file, &located.resource, m);
    let ctx = context(sources, st, inst, located)?;
    let level = &ctx.levels[ctx.levels.len() - 1];
    let style = Style::of(level, st);
    let file = level.files.iter().find(|f| f.path == located.file).ok_or_else(|| fail("the file is gone".into()))?;
    let block = file.body.blocks().find(|b| b.ident.as_str() == "resource" && hcl::labels(b) == [d.rtype.as_str(), d.name.as_str()]).ok_or_else(|| fail("the block is gone".into()))?;
    let (_, bend) = block.span().map(|r| (r.start, r.end)).ok_or_else(|| fail("no span".into()))?;
    let text = &file.text;
    let all_text: String = level.files.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("\n");
    let u = style.unit.clone();
    let policy = format!("jsonencode({})", style.hcl(&wanted.edit.after, &u));
    let self_ref = format!("{}.{}{}", d.rtype, d.name, key_suffix(inst.key.as_ref()));
    let (new_text, w, what) = if d.form == Form::CreateInline && block.body.get_blocks("inline_policy").next().is_some() {
        // A new inline_policy block after the last one.
        let last = block.body.get_blocks("inline_policy").last().and_then(|b| b.span()).ok_or_else(|| fail("no span".into()))?;
        let ind = super::jsontext::line_indent(text, last.start);
        let inner = format!("{ind}{u}");
        let policy = format!("jsonencode({})", style.hcl(&wanted.edit.after, &inner));
        let rows = vec![("name".to_string(), style.hcl_string(&d.policy_name)), ("policy".to_string(), policy)];
        let blk = format!("\n\n{ind}inline_policy {{\n{}\n{ind}}}", style.attrs(&rows, &inner));
        let w = Where { ident: "resource".into(), labels: vec![d.rtype.clone(), d.name.clone()], inline: Some(d.policy_name.clone()), attr: "policy".into() };
        (format!("{}{}{}", &text[..last.end], blk, &text[last.end..]), w, format!("a new inline_policy block {} in {}", d.policy_name, located.resource))
    } else {
        let (ptype, rows): (&str, Vec<(String, String)>) = match (d.form.clone(), d.rtype.as_str()) {
            (Form::CreateInline, "aws_iam_role") => {
                let a = ref_attr(&all_text, &format!("aws_iam_role.{}", d.name), "id");
                ("aws_iam_role_policy", vec![("name".into(), style.hcl_string(&d.policy_name)), ("role".into(), format!("{self_ref}.{a}")), ("policy".into(), policy)])
            }
            (Form::CreateInline, "aws_iam_user") => {
                let a = ref_attr(&all_text, &format!("aws_iam_user.{}", d.name), "name");
                ("aws_iam_user_policy", vec![("name".into(), style.hcl_string(&d.policy_name)), ("user".into(), format!("{self_ref}.{a}")), ("policy".into(), policy)])
            }
            (Form::CreatePolicy, "aws_s3_bucket") => ("aws_s3_bucket_policy", vec![("bucket".into(), format!("{self_ref}.{}", ref_attr(&all_text, &format!("aws_s3_bucket.{}", d.name), "id"))), ("policy".into(), policy)]),
            (Form::CreatePolicy, "aws_sqs_queue") => ("aws_sqs_queue_policy", vec![("queue_url".into(), format!("{self_ref}.id")), ("policy".into(), policy)]),
            (Form::CreatePolicy, "aws_secretsmanager_secret") => ("aws_secretsmanager_secret_policy", vec![("secret_arn".into(), format!("{self_ref}.arn")), ("policy".into(), policy)]),
            _ => return Err(fail(format!("cannot create a policy for a {}", d.rtype))),
        };
        let key = match &inst.key {
            Some(Json::String(k)) => format!("_{}", sanitize(k)),
            Some(k) => format!("_{k}"),
            None => String::new(),
        };
        let base = if d.form == Form::CreatePolicy && key.is_empty() { d.name.clone() } else { format!("{}{key}_denyctl", d.name) };
        let mut name = base.clone();
        let mut n = 2;
        while hcl::find_block(&level.files, "resource", &[ptype, name.as_str()]).is_some() {
            name = format!("{base}_{n}");
            n += 1;
        }
        let blk = format!("\n\nresource \"{ptype}\" \"{name}\" {{\n{}\n}}", style.attrs(&rows, &u));
        let w = Where { ident: "resource".into(), labels: vec![ptype.to_string(), name.clone()], inline: None, attr: "policy".into() };
        (format!("{}{}{}", &text[..bend], blk, &text[bend..]), w, format!("a new resource {ptype}.{name} after {}", located.resource))
    };
    hcl::parse_file(&file.path, &new_text).map_err(|e| fail(format!("the new block does not parse: {}", e.message)))?;
    let edits = vec![FileEdit { path: file.path.clone(), before: Some(text.clone()), after: new_text }];
    let patched = with_edits(sources, &edits);
    let ctx2 = context(&patched, st, inst, located)?;
    let f2 = ctx2.levels[ctx2.levels.len() - 1].files.iter().find(|f| f.path == located.file).ok_or_else(|| fail("the file is gone".into()))?;
    let e2 = super::edit::attr(&f2.body, &w).ok_or_else(|| fail("the new policy is gone".into()))?;
    let after = render_policy(&ctx2, e2);
    Ok(Patched { located: located.clone(), edits, rendered_after: after, rendered_before: None, notes: vec![format!("created {what}")] })
}
