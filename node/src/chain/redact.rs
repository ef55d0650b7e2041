//! RPC URLs often carry an API key (`https://host/v3/KEY`, `https://user:pass@host`), and the
//! HTTP client names the URL in every connection error, which daemons log on each fault. This
//! layer strips the URL from those errors; [`redacted`] is the form of a URL a daemon may show.

use std::task::{Context, Poll};

use alloy::rpc::json_rpc::{RequestPacket, ResponsePacket};
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportError, TransportErrorKind, TransportFut};

/// `scheme://host:port/…`: what of `url` can be shown (no user, password, path or query).
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let host = parsed.host_str().unwrap_or("?");
            let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if parsed.path().len() > 1 || parsed.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!("{}://{host}{port}{rest}", parsed.scheme())
        }
        Err(_) => "<an unparsable URL>".to_string(),
    }
}

/// A tower layer over the HTTP transport that removes the URL from its errors.
#[derive(Debug, Clone, Copy)]
pub struct WithoutUrls;

impl<S> tower::Layer<S> for WithoutUrls {
    type Service = UrlFree<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UrlFree(inner)
    }
}

/// The transport `S` whose errors name no URL.
#[derive(Debug, Clone)]
pub struct UrlFree<S>(S);

impl<S> tower::Service<RequestPacket> for UrlFree<S>
where
    S: tower::Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        >,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(without_url)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move { answer.await.map_err(without_url) })
    }
}

fn without_url(error: TransportError) -> TransportError {
    match error {
        RpcError::Transport(TransportErrorKind::Custom(inner)) => {
            match inner.downcast::<reqwest::Error>() {
                Ok(e) => RpcError::Transport(TransportErrorKind::Custom(Box::new(e.without_url()))),
                Err(other) => RpcError::Transport(TransportErrorKind::Custom(other)),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_host_and_port_are_shown() {
        assert_eq!(
            redacted("https://mainnet.infura.io/v3/0123456789abcdef"),
            "https://mainnet.infura.io/…"
        );
        assert_eq!(
            redacted("http://user:secret@10.0.0.1:8545/?key=abc"),
            "http://10.0.0.1:8545/…"
        );
        assert_eq!(redacted("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redacted("not a url /secret"), "<an unparsable URL>");
    }
}
