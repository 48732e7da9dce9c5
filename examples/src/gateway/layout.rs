//! The bank's layout as the command line describes it.
//!
//! A real installation would load its layout from a commissioning file; this
//! example derives it from `--nodes` and `--channels`, so the same arguments
//! always give the same layout (and the state file's layout fingerprint
//! matches). Compartments are numbered from 1 in node order, then channel
//! order; on every node the channels cycle through the issue's size mix,
//! five small, three medium, two large (50/30/20).

use locker_domain::bank::{Compartment, LayoutError};
use locker_proto::{Channel, CompartmentId, Dimensions, MAX_CHANNELS, NodeAddr, SizeClass};

use super::GatewayError;

/// The most compartments this gateway's bank holds.
pub const MAX_COMPARTMENTS: usize = 256;

/// Inner dimensions of each size class, in millimetres (width, height, depth).
fn inner(size: SizeClass) -> Dimensions {
    match size {
        SizeClass::Small => Dimensions::new(420, 80, 600),
        SizeClass::Medium => Dimensions::new(420, 190, 600),
        _ => Dimensions::new(420, 390, 600),
    }
}

/// The size of channel `channel` in the 50/30/20 mix.
pub fn size_of_channel(channel: u8) -> SizeClass {
    match channel % 10 {
        0..=4 => SizeClass::Small,
        5..=7 => SizeClass::Medium,
        _ => SizeClass::Large,
    }
}

/// The layout of `channels` compartments on each of `nodes`.
///
/// ```
/// use locker_examples::gateway::bank_layout;
/// use locker_proto::{CompartmentId, NodeAddr};
///
/// let layout = bank_layout(&[NodeAddr(1), NodeAddr(2)], 4)?;
/// assert_eq!(layout.len(), 8);
/// assert_eq!(layout[4].id, CompartmentId(5));
/// assert_eq!(layout[4].node, NodeAddr(2));
/// # Ok::<(), locker_examples::gateway::GatewayError>(())
/// ```
///
/// # Errors
///
/// [`GatewayError::Nodes`] for no nodes, a repeated node, or a channel count
/// outside 1..=32; [`GatewayError::Layout`] beyond [`MAX_COMPARTMENTS`] or
/// for an address that is not a node address.
pub fn bank_layout(nodes: &[NodeAddr], channels: u8) -> Result<Vec<Compartment>, GatewayError> {
    if nodes.is_empty() {
        return Err(GatewayError::Nodes("give at least one node address".into()));
    }
    if channels == 0 || usize::from(channels) > MAX_CHANNELS {
        return Err(GatewayError::Nodes(format!(
            "{channels} channels per node: a node has 1 to {MAX_CHANNELS}"
        )));
    }
    let mut seen = Vec::new();
    let mut compartments = Vec::new();
    let mut id: u16 = 1;
    let given = nodes.len() * usize::from(channels);
    if given > MAX_COMPARTMENTS {
        return Err(LayoutError::TooManyCompartments {
            given,
            capacity: MAX_COMPARTMENTS,
        }
        .into());
    }
    for &node in nodes {
        if !node.is_node() {
            return Err(LayoutError::BadWiring {
                id: CompartmentId(id),
                node,
                channel: Channel(0),
            }
            .into());
        }
        if seen.contains(&node) {
            return Err(GatewayError::Nodes(format!("{node} is listed twice")));
        }
        seen.push(node);
        for channel in 0..channels {
            let size = size_of_channel(channel);
            compartments.push(Compartment::new(
                CompartmentId(id),
                node,
                Channel(channel),
                size,
                inner(size),
            ));
            id = id.saturating_add(1);
        }
    }
    Ok(compartments)
}
