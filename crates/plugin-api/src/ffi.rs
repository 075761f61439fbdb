//! The C boundary: the only module with `unsafe`.
//!
//! Plugin side: [`crate::export_plugin!`] generates the three `extern "C"` symbols and calls
//! [`__serve`] / [`__free`], which catch every panic so that none crosses the boundary.
//! Host side: [`DynamicPlugin`] loads a library with libloading, checks its ABI version, and
//! implements [`ServicePlugin`] by sending JSON requests through `denyctl_plugin_call`.
//! A loaded library is never unloaded (its runtime's threads may still run), so the function
//! pointers kept here stay valid for the life of the process.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::Library;
use serde_json::Value;

use crate::abi::{AbiRequest, AbiResponse, PluginHost};
use crate::{
    async_trait, FetchedPolicy, Hop, PluginCtx, PluginError, PluginInfo, PluginSource, ReplayOutcome, ReplayRequest,
    ServicePlugin, ABI_VERSION, MIN_ABI_VERSION, NO_POLICY_TOKEN,
};

/// Generates the C ABI of a plugin library from an expression that builds a [`ServicePlugin`].
///
/// Put it at the root of a `crate-type = ["cdylib"]` crate:
/// `denyctl_plugin_api::export_plugin!(MyPlugin::default());`
#[macro_export]
macro_rules! export_plugin {
    ($make:expr) => {
        static __DENYCTL_PLUGIN_HOST: ::std::sync::OnceLock<$crate::PluginHost> = ::std::sync::OnceLock::new();

        fn __denyctl_make_plugin() -> ::std::boxed::Box<dyn $crate::ServicePlugin> {
            ::std::boxed::Box::new($make)
        }

        /// The C ABI version this library speaks.
        #[no_mangle]
        pub extern "C" fn denyctl_plugin_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        /// One JSON request in, one JSON response out (free it with `denyctl_plugin_free`).
        ///
        /// # Safety
        /// `request` must be null or a valid NUL-terminated string that lives for the call.
        #[no_mangle]
        pub unsafe extern "C" fn denyctl_plugin_call(request: *const ::std::ffi::c_char) -> *mut ::std::ffi::c_char {
            // SAFETY: the host passes a valid C string, as the ABI requires.
            unsafe { $crate::__serve(&__DENYCTL_PLUGIN_HOST, __denyctl_make_plugin, request) }
        }

        /// Frees a response returned by `denyctl_plugin_call`.
        ///
        /// # Safety
        /// `response` must be null or a pointer returned by `denyctl_plugin_call`, freed once.
        #[no_mangle]
        pub unsafe extern "C" fn denyctl_plugin_free(response: *mut ::std::ffi::c_char) {
            // SAFETY: the host hands back a pointer this library returned, as the ABI requires.
            unsafe { $crate::__free(response) }
        }
    };
}

/// Plugin side of `denyctl_plugin_call`: parse, dispatch, catch panics, return an owned C string.
///
/// # Safety
/// `request` must be null or point to a NUL-terminated string valid for the duration of the call.
#[doc(hidden)]
pub unsafe fn __serve(
    host: &OnceLock<PluginHost>,
    make: fn() -> Box<dyn ServicePlugin>,
    request: *const c_char,
) -> *mut c_char {
    let response = if request.is_null() {
        AbiResponse::Error { error: "null request".into(), kind: Some("invalid_input".into()) }.to_json()
    } else {
        // SAFETY: non-null, and the caller guarantees a valid NUL-terminated string.
        let text = unsafe { CStr::from_ptr(request) }.to_string_lossy().into_owned();
        match catch_unwind(AssertUnwindSafe(|| serve_text(host, make, &text))) {
            Ok(json) => json,
            Err(payload) => AbiResponse::Error {
                error: format!("the plugin panicked: {}", panic_message(&*payload)),
                kind: Some("plugin".into()),
            }
            .to_json(),
        }
    };
    // A JSON string never holds a NUL byte (serde_json escapes it), so this cannot fail.
    CString::new(response).unwrap_or_default().into_raw()
}

fn serve_text(host: &OnceLock<PluginHost>, make: fn() -> Box<dyn ServicePlugin>, text: &str) -> String {
    if host.get().is_none() {
        match PluginHost::new(make()) {
            Ok(h) => {
                let _ = host.set(h);
            }
            Err(e) => return AbiResponse::from_result(Err(e)).to_json(),
        }
    }
    match host.get() {
        Some(h) => h.handle_json(text),
        None => AbiResponse::Error { error: "the plugin did not start".into(), kind: Some("plugin".into()) }.to_json(),
    }
}

/// Plugin side of `denyctl_plugin_free`.
///
/// # Safety
/// `response` must be null or a pointer returned by [`__serve`] in this library, not yet freed.
#[doc(hidden)]
pub unsafe fn __free(response: *mut c_char) {
    if !response.is_null() {
        // SAFETY: it came from CString::into_raw in __serve and is freed exactly once.
        drop(unsafe { CString::from_raw(response) });
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

type AbiVersionFn = unsafe extern "C" fn() -> u32;
type CallFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;
type FreeFn = unsafe extern "C" fn(*mut c_char);

/// A plugin loaded from a shared library, called through the C ABI.
#[derive(Debug)]
pub struct DynamicPlugin {
    info: PluginInfo,
    path: PathBuf,
    call: CallFn,
    free: FreeFn,
}

impl DynamicPlugin {
    /// Loads a library, checks its ABI version and symbols, and asks for its info.
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        let fail = |reason: String| PluginError::Load { path: path.display().to_string(), reason };
        // SAFETY: loading runs the library's initialisers. A library on the plugin path is trusted
        // code by configuration (like a kubectl plugin on PATH); nothing else is loaded.
        let lib = unsafe { Library::new(path) }.map_err(|e| fail(format!("not a loadable library: {e}")))?;
        // SAFETY: the symbol, when present, has this signature by the ABI's definition.
        let version: AbiVersionFn = unsafe { lib.get::<AbiVersionFn>(b"denyctl_plugin_abi_version\0") }
            .map(|s| *s)
            .map_err(|_| fail("not a denyctl plugin: it does not export denyctl_plugin_abi_version".into()))?;
        // SAFETY: a function of no arguments returning u32, per the ABI.
        let found = unsafe { version() };
        if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&found) {
            return Err(fail(format!(
                "plugin ABI version {found}, but this denyctl speaks versions {MIN_ABI_VERSION} to {ABI_VERSION}: rebuild the plugin against a matching denyctl-plugin-api"
            )));
        }
        // SAFETY: these symbols, when present, have these signatures by the ABI's definition.
        let call: CallFn = unsafe { lib.get::<CallFn>(b"denyctl_plugin_call\0") }
            .map(|s| *s)
            .map_err(|_| fail("not a denyctl plugin: it does not export denyctl_plugin_call".into()))?;
        // SAFETY: as above.
        let free: FreeFn = unsafe { lib.get::<FreeFn>(b"denyctl_plugin_free\0") }
            .map(|s| *s)
            .map_err(|_| fail("not a denyctl plugin: it does not export denyctl_plugin_free".into()))?;
        // From the first call on, the library may run threads of its own: never unload it.
        let _never_unloaded: &'static Library = Box::leak(Box::new(lib));
        let label = path.display().to_string();
        let info = call_raw(call, free, &label, &AbiRequest::Info).map_err(|e| fail(format!("its info call failed: {e}")))?;
        let mut info: PluginInfo =
            serde_json::from_value(info).map_err(|e| fail(format!("its info is not a PluginInfo: {e}")))?;
        if info.abi_version != found {
            return Err(fail(format!("its info reports ABI version {}, but its library exports version {found}", info.abi_version)));
        }
        info.source = PluginSource::Library { path: path.to_path_buf() };
        Ok(DynamicPlugin { info, path: path.to_path_buf(), call, free })
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn call(&self, req: AbiRequest) -> Result<Value, PluginError> {
        let (call, free, name) = (self.call, self.free, self.info.name.clone());
        match tokio::runtime::Handle::try_current() {
            // The plugin blocks on its own runtime: keep that off the host's async workers.
            Ok(h) => h
                .spawn_blocking(move || call_raw(call, free, &name, &req))
                .await
                .map_err(|e| PluginError::Plugin { plugin: self.info.name.clone(), message: format!("the call did not finish: {e}") })?,
            Err(_) => call_raw(call, free, &name, &req),
        }
    }

    fn call_now(&self, req: &AbiRequest) -> Result<Value, PluginError> {
        call_raw(self.call, self.free, &self.info.name, req)
    }
}

/// Sends one request through the C ABI and decodes the response.
fn call_raw(call: CallFn, free: FreeFn, plugin: &str, req: &AbiRequest) -> Result<Value, PluginError> {
    let err = |message: String| PluginError::Plugin { plugin: plugin.to_string(), message };
    let text = serde_json::to_string(req).map_err(|e| err(format!("cannot encode the request: {e}")))?;
    let c_req = CString::new(text).map_err(|e| err(format!("the request holds a NUL byte: {e}")))?;
    // SAFETY: `call` comes from a library that is never unloaded; `c_req` is a valid C string
    // that outlives the call. A panic inside the plugin is caught on its side (export_plugin!).
    let raw = unsafe { call(c_req.as_ptr()) };
    if raw.is_null() {
        return Err(err("it returned no response (null)".into()));
    }
    // SAFETY: non-null, NUL-terminated by the ABI; copied before it is freed below.
    let body = unsafe { CStr::from_ptr(raw) }.to_string_lossy().into_owned();
    // SAFETY: `raw` came from this library's denyctl_plugin_call and is freed once, by the library.
    unsafe { free(raw) };
    match serde_json::from_str::<AbiResponse>(&body) {
        Ok(AbiResponse::Ok { ok }) => Ok(ok),
        Ok(AbiResponse::Error { error, kind }) => Err(PluginError::from_kind(kind.as_deref(), error, plugin)),
        Err(e) => Err(err(format!("its response is not ABI JSON: {e}"))),
    }
}

fn decode<T: serde::de::DeserializeOwned>(plugin: &str, v: Value) -> Result<T, PluginError> {
    serde_json::from_value(v)
        .map_err(|e| PluginError::Plugin { plugin: plugin.to_string(), message: format!("unexpected result shape: {e}") })
}

#[async_trait]
impl ServicePlugin for DynamicPlugin {
    fn info(&self) -> PluginInfo {
        self.info.clone()
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        let req = AbiRequest::Handles { action: action.to_string(), resource: resource.to_string() };
        self.call_now(&req).ok().and_then(|v| v.as_bool()).unwrap_or(false)
    }

    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String, PluginError> {
        let req = AbiRequest::NormalizeResource { input: input.to_string(), aws: ctx.settings().clone() };
        decode(&self.info.name, self.call(req).await?)
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy, PluginError> {
        let req = AbiRequest::FetchPolicy { resource: resource_arn.to_string(), aws: ctx.settings().clone() };
        decode(&self.info.name, self.call(req).await?)
    }

    async fn put_policy(
        &self,
        ctx: &PluginCtx,
        resource_arn: &str,
        policy: &Value,
        expected_version_token: &str,
    ) -> Result<String, PluginError> {
        let req = AbiRequest::PutPolicy {
            resource: resource_arn.to_string(),
            policy: policy.clone(),
            expected_version_token: expected_version_token.to_string(),
            aws: ctx.settings().clone(),
        };
        decode(&self.info.name, self.call(req).await?)
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>, PluginError> {
        if self.info.abi_version < 2 {
            return Ok(None);
        }
        let req = AbiRequest::FetchPolicyText { resource: resource_arn.to_string(), aws: ctx.settings().clone() };
        decode(&self.info.name, self.call(req).await?)
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected_version_token: &str) -> Result<String, PluginError> {
        if self.info.abi_version < 2 {
            let policy: Value = serde_json::from_str(text).map_err(|e| PluginError::InvalidInput(format!("the policy text is not JSON: {e}")))?;
            return self.put_policy(ctx, resource_arn, &policy, expected_version_token).await;
        }
        let req = AbiRequest::PutPolicyText {
            resource: resource_arn.to_string(),
            text: text.to_string(),
            expected_version_token: expected_version_token.to_string(),
            aws: ctx.settings().clone(),
        };
        decode(&self.info.name, self.call(req).await?)
    }

    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected_version_token: &str) -> Result<String, PluginError> {
        if self.info.abi_version < 2 {
            return Err(PluginError::Unsupported(format!(
                "plugin {} ({}) speaks plugin ABI {}, which has no delete_policy: rebuild it against denyctl-plugin-api ABI {ABI_VERSION} to let rollback delete the policy of {resource_arn}",
                self.info.name,
                self.path.display(),
                self.info.abi_version
            )));
        }
        let req = AbiRequest::DeletePolicy {
            resource: resource_arn.to_string(),
            expected_version_token: expected_version_token.to_string(),
            consent: true,
            aws: ctx.settings().clone(),
        };
        let token: String = decode(&self.info.name, self.call(req).await?)?;
        Ok(if token.is_empty() { NO_POLICY_TOKEN.to_string() } else { token })
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome, PluginError> {
        let req = AbiRequest::Replay { request: request.clone(), allow_write, aws: ctx.settings().clone() };
        decode(&self.info.name, self.call(req).await?)
    }

    fn hops(&self, action: &str, resource_arn: &str, fetched: &FetchedPolicy) -> Vec<Hop> {
        let req = AbiRequest::Hops { action: action.to_string(), resource: resource_arn.to_string(), fetched: fetched.clone() };
        self.call_now(&req).and_then(|v| decode(&self.info.name, v)).unwrap_or_default()
    }
}
