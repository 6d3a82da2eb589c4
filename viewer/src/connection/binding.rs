//! The viewer's end of the channel binding (protocol §2.1): the TLS 1.3
//! exporter of its own connection, which the token proof covers. A man in
//! the middle holds two TLS connections with two different exporters, so a
//! proof made on the viewer's connection does not verify on his.

use std::io;

use lookout_protocol::{ChannelBinding, EXPORTER_LABEL, EXPORTER_LEN};
use tokio_rustls::client::TlsStream;

/// The exporter output of `tls` for [`EXPORTER_LABEL`] with an empty context.
pub fn channel_binding<IO>(tls: &TlsStream<IO>) -> io::Result<ChannelBinding> {
    tls.get_ref()
        .1
        .export_keying_material([0u8; EXPORTER_LEN], EXPORTER_LABEL, Some(&[]))
        .map(ChannelBinding::TlsExporter)
        .map_err(io::Error::other)
}
