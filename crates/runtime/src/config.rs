//! Credentials and clients for the identities a run uses: the caller whose request was denied,
//! the operator who reads policies, and the organization reader who reads SCPs and RCPs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::{OnceCell, Semaphore};

use crate::calls::{self, CallSpec, CallStats, Failure};

/// Which profile each identity uses (`None`: the default credential chain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    /// The operator who reads (and later changes) policies: `--profile`.
    pub operator: Option<String>,
    /// The caller whose request was denied: `--caller-profile` (default: this runtime's own
    /// credentials, found by the standard chain, as the "current runtime").
    pub caller: Option<String>,
    /// Who reads the organization's SCPs and RCPs: `--org-profile` (default: the operator's).
    pub org: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--timeout`: the most one AWS operation may take, the SDK's retries included
    /// (`None`: [`DEFAULT_TIMEOUT`]).
    pub timeout: Option<Duration>,
}

/// How long one AWS operation may take, retries included, unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Most attempts per operation (the SDK's standard retry mode: 1 + 2 retries).
pub const MAX_ATTEMPTS: u32 = 3;

/// The SDK's standard retry (exponential backoff with jitter, a retry quota, throttling and
/// transient errors retried) and timeouts bounded by `total`: each attempt gets a third of it
/// (so a hung connection is retried), and the backoff shrinks with small budgets.
pub fn retry_and_timeouts(total: Duration) -> (RetryConfig, TimeoutConfig) {
    let attempt = total / MAX_ATTEMPTS;
    let retry = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_secs(1).min(total / 10))
        .with_max_backoff(Duration::from_secs(20).min(attempt));
    let timeout = TimeoutConfig::builder()
        .operation_timeout(total)
        .operation_attempt_timeout(attempt)
        .connect_timeout(Duration::from_millis(3100).min(attempt))
        .build();
    (retry, timeout)
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxies from the environment),
/// with every retried request counted for the call being made ([`crate::calls::counted`]): that
/// is how the retries of a call are known, for the runtime's clients and the plugins' alike.
fn counting_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    });
    SharedHttpClient::new(Counting(inner))
}

#[derive(Debug)]
struct Counting(SharedHttpClient);

impl HttpClient for Counting {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector(self.0.http_connector(settings, components)))
    }
}

#[derive(Debug)]
struct CountingConnector(SharedHttpConnector);

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        calls::count_attempt(request.headers().get("amz-sdk-request"));
        self.0.call(request)
    }
}

/// The clients of one identity.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The loaded SDK configuration (for plugins that make their own clients).
    pub config: SdkConfig,
    /// STS.
    pub sts: aws_sdk_sts::Client,
    /// IAM.
    pub iam: aws_sdk_iam::Client,
    /// Organizations.
    pub org: aws_sdk_organizations::Client,
    /// `caller`, `operator` or `organization reader`.
    pub role: &'static str,
    /// The credential source, for messages: `profile 'ci'` or the default chain.
    pub source_desc: String,
    /// The profile name, when one was given.
    pub profile: Option<String>,
}

/// A human description of where credentials come from.
pub fn source_desc(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("profile '{p}'"),
        None => "the default credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the default \
                 profile (including SSO and credential_process), web identity, container and instance roles"
            .to_string(),
    }
}

async fn load(profile: Option<&str>, region: Option<&str>, timeout: Duration, role: &'static str) -> Clients {
    let (retry, timeouts) = retry_and_timeouts(timeout);
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts).http_client(counting_https_client());
    if let Some(p) = profile {
        // As the AWS CLI does, an explicit profile wins over credentials in the environment
        // (the default chain would look at AWS_ACCESS_KEY_ID first).
        let creds = aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(p).build();
        loader = loader.profile_name(p).credentials_provider(creds);
    }
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        // IAM, STS and Organizations answer in us-east-1 for the aws partition; the AWS CLI
        // reads them without a region too.
        config = config.into_builder().region(Region::from_static("us-east-1")).build();
    }
    Clients::from_config(config, role, source_desc(profile), profile.map(str::to_string))
}

impl Clients {
    /// The clients of one identity from its loaded configuration.
    pub fn from_config(config: SdkConfig, role: &'static str, source_desc: String, profile: Option<String>) -> Clients {
        Clients {
            sts: aws_sdk_sts::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            org: aws_sdk_organizations::Client::new(&config),
            config,
            role,
            source_desc,
            profile,
        }
    }
}

/// A memo: each key is fetched once per run, even when asked for concurrently.
pub(crate) struct Memo<V> {
    cells: Mutex<HashMap<String, Arc<OnceCell<V>>>>,
}

impl<V: Clone> Memo<V> {
    pub(crate) fn new() -> Self {
        Memo { cells: Mutex::new(HashMap::new()) }
    }

    pub(crate) async fn get<F, Fut>(&self, key: &str, fetch: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut m = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(key.to_string()).or_default().clone()
        };
        cell.get_or_init(fetch).await.clone()
    }
}

/// Most calls in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// One run against AWS: the identities' clients, the call counter, and the per-run caches.
pub struct Session {
    /// The caller whose request was denied.
    pub caller: Arc<Clients>,
    /// The operator who reads policies.
    pub operator: Arc<Clients>,
    /// Who reads SCPs and RCPs.
    pub org_reader: Arc<Clients>,
    /// Whether caller and operator are the same identity source.
    pub caller_is_operator: bool,
    /// Every call made.
    pub stats: CallStats,
    sem: Semaphore,
    pub(crate) memo: crate::reads::Memos,
}

impl Session {
    /// Load credentials and region for each identity (nothing is called yet).
    pub async fn new(p: &Profiles) -> Session {
        let region = p.region.as_deref();
        let timeout = p.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let operator = Arc::new(load(p.operator.as_deref(), region, timeout, "operator").await);
        // The caller is the current runtime (the default chain) unless --caller-profile names one;
        // `--profile` only changes the operator who reads and changes policies.
        let caller_profile = p.caller.clone();
        let caller_is_operator = caller_profile == p.operator;
        let caller = if caller_is_operator {
            Arc::new(Clients { role: "caller", ..(*operator).clone() })
        } else {
            Arc::new(load(caller_profile.as_deref(), region, timeout, "caller").await)
        };
        let org_profile = p.org.clone().or_else(|| p.operator.clone());
        let org_reader = if org_profile == p.operator {
            operator.clone()
        } else {
            Arc::new(load(org_profile.as_deref(), region, timeout, "organization reader").await)
        };
        Session {
            caller,
            operator,
            org_reader,
            caller_is_operator,
            stats: CallStats::default(),
            sem: Semaphore::new(MAX_IN_FLIGHT),
            memo: crate::reads::Memos::default(),
        }
    }

    /// A session with one identity for every role (an account entered with an assumed role):
    /// its own call counter and caches.
    pub fn with_clients(c: Clients) -> Session {
        let c = Arc::new(c);
        Session {
            caller: c.clone(),
            operator: c.clone(),
            org_reader: c,
            caller_is_operator: true,
            stats: CallStats::default(),
            sem: Semaphore::new(MAX_IN_FLIGHT),
            memo: crate::reads::Memos::default(),
        }
    }

    /// Make one call with `who`'s credentials, bounded, counted and classified.
    pub async fn call<T, E, Fut>(
        &self,
        who: &Clients,
        call: &'static str,
        target: &str,
        wave: usize,
        fut: Fut,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let _permit = self.sem.acquire().await;
        let spec = CallSpec { call, target, wave, role: who.role, source_desc: &who.source_desc };
        calls::run(&self.stats, spec, fut).await
    }
}
