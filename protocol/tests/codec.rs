//! The tokio-util adapters, end to end over an in-memory duplex pipe.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lookout_protocol::codec::{CodecError, ServerCodec, ServerFrame, ViewerCodec};
use lookout_protocol::{
    AuthMode, BindingMode, Challenge, ChannelBinding, ClientMessage, ProtocolError, ServerMessage,
    auth_response, verify_response,
};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Framed, FramedRead};

#[tokio::test]
async fn handshake_and_a_frame_cross_a_duplex_pipe() {
    let (server_io, viewer_io) = tokio::io::duplex(64 * 1024);
    let mut server = Framed::new(server_io, ServerCodec::default());
    let mut viewer = Framed::new(viewer_io, ViewerCodec::default());

    let challenge = Challenge::generate().unwrap();
    let binding = ChannelBinding::TlsExporter([9; 32]);
    server
        .send(ServerFrame::Control(ServerMessage::Hello {
            protocol: 2,
            server: "test".into(),
            auth: AuthMode::Token,
            binding: BindingMode::TlsExporter,
            challenge,
        }))
        .await
        .unwrap();
    let Some(Ok(ServerFrame::Control(ServerMessage::Hello { challenge: got, .. }))) =
        viewer.next().await
    else {
        panic!("expected hello");
    };
    viewer
        .send(ClientMessage::Auth {
            protocol: 2,
            client: "test".into(),
            response: auth_response("tok", &got, &binding),
        })
        .await
        .unwrap();
    let Some(Ok(ClientMessage::Auth { response, .. })) = server.next().await else {
        panic!("expected auth");
    };
    assert!(verify_response("tok", &challenge, &binding, &response));

    // Larger than the pipe: the write only completes while the viewer reads.
    let jpeg = Bytes::from(vec![0xffu8; 200_000]);
    let sending = tokio::spawn({
        let jpeg = jpeg.clone();
        async move { server.send(ServerFrame::Image(jpeg)).await }
    });
    let Some(Ok(ServerFrame::Image(got))) = viewer.next().await else {
        panic!("expected image");
    };
    assert_eq!(got, jpeg);
    sending.await.unwrap().unwrap();
}

#[tokio::test]
async fn garbage_from_a_viewer_is_a_protocol_error_not_a_panic() {
    let (server_io, mut viewer_io) = tokio::io::duplex(1024);
    let mut server = FramedRead::new(server_io, ServerCodec::default());
    viewer_io
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let err = server.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, CodecError::Protocol(ProtocolError::UnknownTag(_))),
        "{err}"
    );
}

#[tokio::test]
async fn eof_in_the_middle_of_a_frame_is_an_error() {
    let (server_io, mut viewer_io) = tokio::io::duplex(1024);
    let mut server = FramedRead::new(server_io, ServerCodec::default());
    viewer_io
        .write_all(b"HC\x20\0\0\0\0\0\0\0{\"ty")
        .await
        .unwrap();
    drop(viewer_io);
    let err = server.next().await.unwrap().unwrap_err();
    assert!(matches!(err, CodecError::Io(_)), "{err}");
}
