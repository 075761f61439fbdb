//! Replaying a denied request as the caller: IAM and STS reads through the SDK, service actions
//! through the service plugins' `replay` (reads as they are; writes only with consent or as a
//! non-mutating probe). Anything else is not replayed: its fix is checked by evaluation only.

use denyctl_plugin_api::{replay_outcome, Outcome, PluginCtx, Registry, ReplayMethod, ReplayOutcome, ReplayRequest};

use crate::config::Session;

/// The IAM actions replayed as they are (reads; list calls ask for one item).
pub const IAM_READS: &[&str] = &[
    "GetUser",
    "GetRole",
    "GetGroup",
    "GetPolicy",
    "ListUsers",
    "ListRoles",
    "ListGroups",
    "ListPolicies",
    "ListRolePolicies",
    "ListUserPolicies",
    "ListAttachedRolePolicies",
    "ListAttachedUserPolicies",
    "ListGroupsForUser",
    "ListAccountAliases",
    "GetAccountSummary",
];

/// The STS actions replayed.
pub const STS_CALLS: &[&str] = &["GetCallerIdentity", "AssumeRole"];

/// The last `/`-separated segment of an IAM resource ARN (an entity's name without its path).
fn entity(resource: &str) -> Option<String> {
    if resource == "*" || !resource.starts_with("arn:") {
        return None;
    }
    let res = resource.splitn(6, ':').nth(5)?;
    res.rsplit('/').next().filter(|n| !n.is_empty() && *n != "*").map(str::to_string)
}

fn not_replayed(action: &str, why: String) -> ReplayOutcome {
    ReplayOutcome::new(Outcome::NotReplayed { reason: why }, ReplayMethod::NotReplayed, format!("{action} was not sent to AWS"))
}

/// Replay `action` on `resource` as the session's caller.
pub async fn replay(session: &Session, plugins: &Registry, action: &str, resource: &str, allow_write: bool) -> ReplayOutcome {
    let Some((service, name)) = action.split_once(':') else {
        return not_replayed(action, format!("cannot replay {action}: not an IAM action (service:Action)"));
    };
    let service = service.to_ascii_lowercase();
    let caller = &session.caller;
    let read = ReplayMethod::AsIsRead;
    let canon = |set: &[&str]| set.iter().find(|a| a.eq_ignore_ascii_case(name)).map(|a| a.to_string());
    if service == "iam" {
        let Some(op) = canon(IAM_READS) else {
            return not_replayed(action, format!("cannot replay {action}: denyctl replays only these IAM reads: {} (evaluation only)", IAM_READS.join(", ")));
        };
        let iam = &caller.iam;
        let e = entity(resource);
        let need = |what: &str| not_replayed(action, format!("cannot replay {action}: it needs a {what} ARN as its resource, got {resource}"));
        let detail = format!("iam:{op} as the caller (answer discarded)");
        return match op.as_str() {
            "GetUser" => replay_outcome(iam.get_user().set_user_name(e).send().await, read, detail),
            "GetRole" => match e {
                Some(r) => replay_outcome(iam.get_role().role_name(r).send().await, read, detail),
                None => need("role"),
            },
            "GetGroup" => match e {
                Some(g) => replay_outcome(iam.get_group().group_name(g).max_items(1).send().await, read, detail),
                None => need("group"),
            },
            "GetPolicy" if resource.contains(":policy/") => replay_outcome(iam.get_policy().policy_arn(resource).send().await, read, detail),
            "GetPolicy" => need("policy"),
            "ListUsers" => replay_outcome(iam.list_users().max_items(1).send().await, read, detail),
            "ListRoles" => replay_outcome(iam.list_roles().max_items(1).send().await, read, detail),
            "ListGroups" => replay_outcome(iam.list_groups().max_items(1).send().await, read, detail),
            "ListPolicies" => replay_outcome(iam.list_policies().max_items(1).send().await, read, detail),
            "ListRolePolicies" | "ListAttachedRolePolicies" => match e {
                Some(r) if op == "ListRolePolicies" => replay_outcome(iam.list_role_policies().role_name(r).max_items(1).send().await, read, detail),
                Some(r) => replay_outcome(iam.list_attached_role_policies().role_name(r).max_items(1).send().await, read, detail),
                None => need("role"),
            },
            "ListUserPolicies" | "ListAttachedUserPolicies" | "ListGroupsForUser" => match e {
                Some(u) if op == "ListUserPolicies" => replay_outcome(iam.list_user_policies().user_name(u).max_items(1).send().await, read, detail),
                Some(u) if op == "ListGroupsForUser" => replay_outcome(iam.list_groups_for_user().user_name(u).max_items(1).send().await, read, detail),
                Some(u) => replay_outcome(iam.list_attached_user_policies().user_name(u).max_items(1).send().await, read, detail),
                None => need("user"),
            },
            "ListAccountAliases" => replay_outcome(iam.list_account_aliases().send().await, read, detail),
            _ => replay_outcome(iam.get_account_summary().send().await, read, detail),
        };
    }
    if service == "sts" {
        return match canon(STS_CALLS).as_deref() {
            Some("GetCallerIdentity") => replay_outcome(caller.sts.get_caller_identity().send().await, read, "sts:GetCallerIdentity as the caller"),
            Some(_) if resource.contains(":role/") => replay_outcome(
                caller.sts.assume_role().role_arn(resource).role_session_name("denyctl-replay").duration_seconds(900).send().await,
                ReplayMethod::NonMutatingProbe,
                format!("sts:AssumeRole of {resource} as the caller, session denyctl-replay, 15 minutes; the credentials are discarded unread"),
            ),
            Some(_) => not_replayed(action, format!("cannot replay {action}: it needs a role ARN as its resource, got {resource}")),
            None => not_replayed(action, format!("cannot replay {action}: denyctl replays only sts:GetCallerIdentity and sts:AssumeRole (evaluation only)")),
        };
    }
    match plugins.find(action, resource) {
        Some(p) => {
            let ctx = PluginCtx::new(caller.config.clone(), caller.profile.clone());
            let req = ReplayRequest { action: action.to_string(), resource: resource.to_string(), params: serde_json::Value::Null };
            match p.replay(&ctx, &req, allow_write).await {
                Ok(o) => o,
                Err(e) => ReplayOutcome::new(Outcome::Error { message: e.to_string() }, ReplayMethod::NotReplayed, format!("the {} plugin could not replay {action}", p.info().name)),
            }
        }
        None => not_replayed(action, format!("cannot replay {action}: no replay for this service (evaluation only)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names_from_arns() {
        assert_eq!(entity("arn:aws:iam::123456789012:user/people/bob").as_deref(), Some("bob"));
        assert_eq!(entity("arn:aws:iam::123456789012:role/dev").as_deref(), Some("dev"));
        assert_eq!(entity("*"), None);
        assert_eq!(entity("arn:aws:iam::123456789012:user/*"), None);
    }
}
