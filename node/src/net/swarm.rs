//! Building the swarm: for real networks (TCP, QUIC, Noise, Yamux, DNS, relay) or on libp2p's
//! in-memory transport with the simulator's link model below Noise (tests, simulator).

use super::behaviour::{Behaviour, Direct, behaviour};
use super::{BuildError, NetConfig, build_error};
use futures::StreamExt;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, MemoryTransport};
use libp2p::core::upgrade::Version;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, Transport as _, identity, noise, tcp, yamux};
use prometheus_client::registry::Registry;
use std::io;
use std::time::Duration;
use tracing::info;

/// How long a listener may take to come up at start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A swarm for real networks: TCP and QUIC, Noise, Yamux, DNS, and a relay client.
pub fn build_swarm(
    key: identity::Keypair,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, BuildError> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(build_error)?
        .with_quic()
        .with_dns()
        .map_err(build_error)?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(build_error)?
        .with_behaviour(|key, relay| behaviour(key, Some(relay), config, registry).map_err(|e| e.0.into()))
        .map_err(build_error)?
        .with_swarm_config(|c| swarm_config(c, config.idle_timeout))
        .build())
}

/// A swarm on libp2p's in-memory transport (with Noise and Yamux), for tests and the
/// simulator.
pub fn build_memory_swarm(
    key: identity::Keypair,
    config: &NetConfig,
    registry: &mut Registry,
) -> Result<Swarm<Behaviour>, BuildError> {
    let link_model = config.link_model.clone();
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| memory_transport(key, link_model))
        .map_err(build_error)?
        .with_behaviour(|key| behaviour(key, None, config, registry).map_err(|e| e.0.into()))
        .map_err(build_error)?
        .with_swarm_config(|c| swarm_config(c, config.idle_timeout))
        .build())
}

/// A person's persona connection (see [`crate::personas`]): its own key, the direct protocols
/// only, and it only dials out: TCP and QUIC with Noise and Yamux, or the in-memory transport
/// like the node's own swarm. No relay, identify, gossip or DHT: nothing that would announce
/// it or tie it to the node's other identities.
pub fn build_persona_swarm(
    key: identity::Keypair,
    config: &NetConfig,
    memory: bool,
) -> Result<Swarm<Direct>, BuildError> {
    let idle = config.idle_timeout;
    if memory {
        let link_model = config.link_model.clone();
        return Ok(libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|key| memory_transport(key, link_model))
            .map_err(build_error)?
            .with_behaviour(|_| Direct::new(config))
            .map_err(build_error)?
            .with_swarm_config(|c| persona_swarm_config(c, idle))
            .build());
    }
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(build_error)?
        .with_quic()
        .with_dns()
        .map_err(build_error)?
        .with_behaviour(|_| Direct::new(config))
        .map_err(build_error)?
        .with_swarm_config(|c| persona_swarm_config(c, idle))
        .build())
}

/// The node's swarms' settings: connections idle for `idle` close.
fn swarm_config(config: libp2p::swarm::Config, idle: Duration) -> libp2p::swarm::Config {
    config.with_idle_connection_timeout(idle)
}

/// A persona swarm's settings: those of [`swarm_config`], and a stream the persona opens
/// carries its request with its protocol's name (multistream-select's `V1Lazy`) instead of
/// waiting a round trip for the business to confirm the name first. A person's proposal and
/// countersignature then cost half a round trip each, not one and a half; on the wire it is
/// multistream-select 1.0 as every libp2p speaks it, and a business that does not speak the
/// protocol fails the request as before, on reading it. Only here: the dialer settles on the
/// last protocol it proposes without confirmation, which on the node's own swarm would make
/// gossipsub and Kademlia take a persona's connection (which speaks neither) for one that
/// speaks them (`business_keeps_its_audience` caught it).
fn persona_swarm_config(config: libp2p::swarm::Config, idle: Duration) -> libp2p::swarm::Config {
    swarm_config(config, idle).with_substream_upgrade_protocol_override(Version::V1Lazy)
}

/// libp2p's in-memory transport with the simulator's link model below Noise and Yamux.
fn memory_transport(
    key: &identity::Keypair,
    link_model: Option<std::sync::Arc<dyn crate::link::LinkModel>>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    Ok(MemoryTransport::default()
        .and_then(move |connection, endpoint| {
            let remote = endpoint.get_remote_address().clone();
            let link = match &link_model {
                Some(model) if endpoint.is_dialer() => model.link(&remote).map(|l| (l, model.clone())),
                _ => None,
            };
            let seed = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                Ok::<_, io::Error>(match link {
                    Some((link, model)) => crate::link::modelled(connection, link, model, remote, seed),
                    None => Box::new(connection) as Box<dyn crate::link::Io>,
                })
            }
        })
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// Starts listening on every address and returns once each listener is up, so the caller can
/// read the addresses. On failure, says which address and why.
pub async fn listen(swarm: &mut Swarm<Behaviour>, addresses: &[Multiaddr]) -> Result<(), (Multiaddr, String)> {
    for address in addresses {
        swarm.listen_on(address.clone()).map_err(|e| (address.clone(), e.to_string()))?;
    }
    let mut listening = 0;
    while let Some(address) = addresses.get(listening) {
        let failed = |reason: String| (address.clone(), reason);
        let event = tokio::time::timeout(LISTEN_TIMEOUT, swarm.select_next_some())
            .await
            .map_err(|_| failed("no listener came up".into()))?;
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                listening += 1;
            }
            SwarmEvent::ListenerError { error, .. } => return Err(failed(error.to_string())),
            _ => {}
        }
    }
    Ok(())
}
