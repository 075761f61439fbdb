"""Drives `denyctl mcp` with the official MCP Python SDK, as an assistant would (tests/mcp.rs runs it).

Configuration comes as one JSON object in $DENYCTL_MCP_TEST:
  bin, transport ("stdio" | "http"), allow_apply (bool), env (the server's environment),
  endpoint (moto; its state is checked with boto3 as the env's `admin` profile), caller_user,
  denial (the AccessDenied message), bucket, key, moto_pid (killed at the end of the http run),
  stale_profile (a profile that does not exist).
Every check is an assert: the first failure ends the script with a non-zero status and the reason.
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys

import boto3
import jsonschema
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

CFG = json.loads(os.environ["DENYCTL_MCP_TEST"])
TOOLS = {"explain", "whoami", "diagnose", "collect", "plan_fix", "replay", "apply_plan", "rollback_plan", "simulate"}
WRITERS = {"apply_plan", "rollback_plan"}
SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "schema")
# The verb's JSON contract each tool's structured result carries (at the top, or under a key).
CONTRACT = {"explain": ("explain", None), "whoami": ("whoami", None), "diagnose": ("diagnose", None),
            "collect": ("snapshot", "snapshot"), "plan_fix": ("plan", "plan"), "replay": ("replay", None),
            "apply_plan": ("apply", None), "rollback_plan": ("rollback", None), "simulate": ("simulate", None)}


def contract(name, doc):
    kind, key = CONTRACT[name]
    if key is not None:
        doc = doc[key]
    elif name in WRITERS and doc.get("applied") is False:
        return  # writes off: the answer is the command a person can run
    with open(os.path.join(SCHEMAS, f"{kind}.json")) as f:
        jsonschema.Draft202012Validator(json.load(f)).validate(doc)


def iam():
    env = CFG["env"]
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"]
    os.environ["AWS_CONFIG_FILE"] = env["AWS_CONFIG_FILE"]
    return boto3.Session(profile_name="admin").client("iam", endpoint_url=CFG["endpoint"], region_name="us-east-1")


def user_policies():
    return sorted(iam().list_user_policies(UserName=CFG["caller_user"])["PolicyNames"])


def log(*a):
    print(f"[{CFG['transport']}{' allow-apply' if CFG['allow_apply'] else ''}]", *a, file=sys.stderr, flush=True)


async def call(s, name, args, expect_error=False, progress=None):
    r = await s.call_tool(name, args, progress_callback=progress)
    text = "\n".join(c.text for c in r.content if getattr(c, "type", "") == "text")
    if expect_error:
        assert r.is_error, f"{name}: expected a tool error, got {r.structured_content}"
        assert text and "\n" not in text.strip(), f"{name}: the error is not one sentence: {text!r}"
        log(f"{name} -> tool error: {text}")
        return text
    assert not r.is_error, f"{name}: tool error: {text}"
    assert r.structured_content is not None, f"{name}: no structured result"
    assert r.structured_content.get("schema_version") == "1", f"{name}: no schema_version: {r.structured_content}"
    assert text, f"{name}: no text summary"
    contract(name, r.structured_content)
    log(f"{name} -> {text.splitlines()[0]}")
    return r.structured_content


async def expect_protocol_error(s, name, args, fragment):
    try:
        r = await s.call_tool(name, args)
    except MCPError as e:
        assert fragment in str(e), f"{name}: protocol error without {fragment!r}: {e}"
        log(f"{name} -> protocol error: {e}")
        return
    raise AssertionError(f"{name} {args}: expected a protocol error, got {r}")


async def check_tools(s):
    listed = (await s.list_tools()).tools
    names = {t.name for t in listed}
    assert names == TOOLS, f"tools: {sorted(names)}"
    for t in listed:
        schema = t.input_schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object", t.name
        assert schema.get("additionalProperties") is False, f"{t.name} accepts unknown fields"
        a = t.annotations
        assert a is not None, t.name
        if t.name in WRITERS:
            assert a.destructive_hint is True and a.read_only_hint is False, f"{t.name}: {a}"
        elif t.name != "replay":
            assert a.read_only_hint is True, f"{t.name}: {a}"
    props = {t.name: set(t.input_schema.get("properties", {})) for t in listed}
    assert "snapshot_id" in props["diagnose"] and "scope" not in props["diagnose"], props["diagnose"]
    assert "scope" in props["plan_fix"] and "snapshot_id" not in props["plan_fix"], props["plan_fix"]
    assert not {"scope", "snapshot_id"} & props["collect"], props["collect"]
    # apply_plan and rollback_plan take a plan id, nothing else: an agent cannot pass a policy.
    for w in WRITERS:
        schema = next(t.input_schema for t in listed if t.name == w)
        assert set(schema["properties"]) == {"plan_id"}, schema
        jsonschema.validate({"plan_id": "x"}, schema)
        try:
            jsonschema.validate({"plan_id": "x", "policy": {"Statement": []}}, schema)
            raise AssertionError("a policy argument passed the schema")
        except jsonschema.ValidationError:
            pass


async def flow(s):
    await s.initialize()
    await check_tools(s)
    denial = CFG["denial"]

    e = await call(s, "explain", {"text": denial})
    assert e["action"] == "s3:GetObject" and e["kind"] == "denial", e

    who = await call(s, "whoami", {})
    assert who["arn"].endswith(":user/" + CFG["caller_user"]), who

    ticks = []

    async def progress(p, total, message):
        ticks.append((p, message))

    d = await call(s, "diagnose", {"message": denial}, progress=progress)
    assert d["decision"] == "implicit_deny", d
    assert "identity" in d["denied_by"], d
    assert ticks, "no progress notification during diagnose"

    snap = await call(s, "collect", {"message": denial})
    d2 = await call(s, "diagnose", {"snapshot_id": snap["snapshot_id"]})
    assert d2["decision"] == "implicit_deny", d2

    before = user_policies()
    p = await call(s, "plan_fix", {"message": denial})
    plan_id, plan = p["plan_id"], p["plan"]
    assert plan["status"] == "ready", plan
    assert plan["changes"][0]["statements"][0]["Action"] == "s3:GetObject", plan["changes"]
    assert user_policies() == before, "plan_fix wrote something"

    listed = {r.uri for r in (await s.list_resources()).resources}
    for uri in (f"denyctl://plans/{plan_id}", f"denyctl://plans/{plan_id}/diff", f"denyctl://snapshots/{snap['snapshot_id']}"):
        assert uri in listed, f"{uri} not in {listed}"
    diff = (await s.read_resource(f"denyctl://plans/{plan_id}/diff")).contents[0].text
    assert "+" in diff and "s3:GetObject" in diff, diff
    stored = json.loads((await s.read_resource(f"denyctl://plans/{plan_id}")).contents[0].text)
    assert stored["changes"] == plan["changes"]

    r = await call(s, "replay", {"plan_id": plan_id})
    assert r["outcome"] == "denied", r

    if not CFG["allow_apply"]:
        a = await call(s, "apply_plan", {"plan_id": plan_id})
        assert a["applied"] is False and re.search(r"denyctl .*apply -f \S+", a["command"]), a
        rb = await call(s, "rollback_plan", {"plan_id": plan_id})
        assert rb["applied"] is False and " rollback -f " in rb["command"], rb
        assert user_policies() == before, "apply_plan wrote without --allow-apply"
    else:
        a = await call(s, "apply_plan", {"plan_id": plan_id})
        assert a["result"] == "applied", a
        after = user_policies()
        assert len(after) == len(before) + 1, after
        r = await call(s, "replay", {"plan_id": plan_id})
        assert r["outcome"] == "allowed", r
        rb = await call(s, "rollback_plan", {"plan_id": plan_id})
        assert rb["result"] == "rolled_back", rb
        assert user_policies() == before, user_policies()
        r = await call(s, "replay", {"plan_id": plan_id})
        assert r["outcome"] == "denied", r

    # Bad input: the server answers with one sentence and keeps serving.
    await expect_protocol_error(s, "no_such_tool", {}, "unknown tool")
    await expect_protocol_error(s, "apply_plan", {"plan_id": plan_id, "policy": {"Statement": []}}, "unknown field")
    await expect_protocol_error(s, "explain", {}, "missing field")
    await expect_protocol_error(s, "collect", {"message": denial, "scope": "bucket"}, "unknown field `scope`")
    msg = await call(s, "apply_plan", {"plan_id": "nosuch"}, expect_error=True)
    assert "no plan nosuch" in msg, msg
    other = "0badc0de-plan1" if not plan_id.startswith("0badc0de") else "1badc0de-plan1"
    msg = await call(s, "replay", {"plan_id": other}, expect_error=True)
    assert "another denyctl mcp run" in msg, msg
    await call(s, "diagnose", {"message": "hello, this is not a denial"}, expect_error=True)
    sim = await call(s, "simulate", {"scenario": {"request": {"principal": "arn:aws:iam::123456789012:user/a", "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}, "policies": {"identity": [{"name": "inline:a", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}}]}}})
    assert sim["decision"] == "allow", sim
    assert user_policies() == before, "bad input wrote something"

    if CFG["transport"] == "http":
        # moto gone (killed; a live call finishes in well under a second here, so it is killed
        # before the call): a tool error in one sentence, and the server keeps serving.
        os.kill(CFG["moto_pid"], signal.SIGKILL)
        r = await s.call_tool("diagnose", {"message": denial})
        text = " ".join(c.text for c in r.content if getattr(c, "type", "") == "text")
        assert r.is_error and "\n" not in text.strip(), f"moto stopped: {r}"
        log(f"diagnose with moto stopped -> {text}")
        e = await call(s, "explain", {"text": denial})
        assert e["action"] == "s3:GetObject"


async def stale_profile():
    """A profile that does not exist: a tool error naming it; explain still works."""
    params = StdioServerParameters(command=CFG["bin"], args=["--profile", CFG["stale_profile"], "--caller-profile", CFG["stale_profile"], "mcp"], env=CFG["env"])
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            msg = await call(s, "whoami", {}, expect_error=True)
            assert CFG["stale_profile"] in msg, msg
            await call(s, "explain", {"text": CFG["denial"]})


def children_running(verb):
    """denyctl processes running VERB (the server's children), from /proc."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"denyctl") and verb.encode() in argv and b"mcp" not in argv:
            found.append(int(pid))
    return found


async def cancelled():
    """A call the client abandons (a timeout sends notifications/cancelled) stops the verb's
    process; the server keeps serving. AWS here is a listener that never answers."""
    import socket
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    env = dict(CFG["env"], AWS_ENDPOINT_URL=f"http://127.0.0.1:{hang.getsockname()[1]}")
    params = StdioServerParameters(command=CFG["bin"], args=["--profile", "admin", "--caller-profile", CFG["caller_user"], "mcp"], env=env)
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            try:
                await s.call_tool("whoami", {}, read_timeout_seconds=2)
                raise AssertionError("whoami answered although AWS never does")
            except MCPError as e:
                log(f"whoami abandoned after 2 s: {e}")
            assert children_running("whoami"), "the verb was not running when the call was abandoned"
            for _ in range(50):
                if not children_running("whoami"):
                    break
                await asyncio.sleep(0.1)
            assert not children_running("whoami"), "the cancelled call's process is still running"
            log("cancelled: the whoami process was stopped")
            await call(s, "explain", {"text": CFG["denial"]})
    hang.close()


def server_args():
    args = ["--profile", "admin", "--caller-profile", CFG["caller_user"], "mcp"]
    if CFG["allow_apply"]:
        args.append("--allow-apply")
    return args


async def main():
    if CFG["transport"] == "stdio":
        params = StdioServerParameters(command=CFG["bin"], args=server_args(), env=CFG["env"])
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as s:
                await flow(s)
        await stale_profile()
        if not CFG["allow_apply"]:
            await cancelled()
    else:
        proc = subprocess.Popen([CFG["bin"], *server_args(), "--http", "127.0.0.1:0"], env=CFG["env"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            url = None
            for line in proc.stderr:
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    url = m.group(1)
                    break
            assert url and url.startswith("http://127.0.0.1:"), f"no listening line (server exited {proc.poll()})"
            async with streamable_http_client(url) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await flow(s)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Refused: a non-loopback address without --listen-any.
        out = subprocess.run([CFG["bin"], "mcp", "--http", "0.0.0.0:0"], env=CFG["env"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and "loopback" in out.stderr and out.stderr.count("\n") == 1, out
    log("ok")


asyncio.run(main())
