//! One PipeWire buffer into the newest picture of its stream: the newest
//! of the queued buffers is kept (older ones are requeued, their damage
//! lost), its chunk checked before a byte is read, and its visible part
//! copied into a spare picture outside the slot's lock, then swapped in.

use pipewire as pw;
use pw::spa::buffer::meta::{MetaVideoCrop, MetaVideoDamage};

use super::frame::{self, BufferLayout};
use super::stream::StreamState;

/// A frame arrived: keep the newest, copy it, requeue the rest.
pub(super) fn process(stream: &pw::stream::Stream, state: &mut StreamState) {
    let mut newest = None;
    let mut passed_over = false;
    // Bounded by the stream's buffer count; older ones are requeued as
    // they are dropped, their damage unread.
    while let Some(mut buffer) = stream.dequeue_buffer() {
        // An empty buffer after a real one (a cursor-only update, say)
        // does not hide it: it is requeued, the real one kept.
        let empty = buffer.datas_mut().first_mut().is_some_and(|d| {
            let chunk = d.chunk();
            chunk.size() == 0 && chunk.flags().bits() == 0
        });
        if empty && newest.is_some() {
            continue;
        }
        passed_over |= newest.replace(buffer).is_some();
    }
    state.damage_lost |= passed_over;
    let (Some(mut buffer), Some(negotiated)) = (newest, state.negotiated.as_ref()) else {
        return;
    };
    let crop = buffer.find_meta::<MetaVideoCrop>().and_then(|c| {
        let region = c.meta_region();
        region.is_valid().then(|| {
            let (p, s) = (region.position(), region.size());
            (p.x, p.y, s.width, s.height)
        })
    });
    let damage: Vec<_> = buffer
        .find_meta::<MetaVideoDamage>()
        .map(|d| {
            d.iter()
                .take(frame::MAX_DAMAGE_RECTS * 4)
                .map(|r| {
                    (
                        r.position().x,
                        r.position().y,
                        r.size().width,
                        r.size().height,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let datas = buffer.datas_mut();
    let Some(data) = datas.first_mut() else {
        state.damage_lost = true;
        return;
    };
    let chunk = data.chunk();
    let chunk = frame::Chunk {
        offset: chunk.offset(),
        size: chunk.size(),
        stride: chunk.stride(),
        flags: chunk.flags().bits(),
    };
    if chunk.size == 0 && chunk.flags == 0 {
        // Nothing new in it (a cursor-only update, say).
        return;
    }
    let Some(bytes) = data.data() else {
        state.damage_lost = true;
        return;
    };
    // Checked against the mapping before a byte of it is read.
    let (region, stride) = match frame::chunk_region(chunk, bytes.len()) {
        Ok(region) => region,
        Err(err) => {
            // A corrupted picture's damage is lost with it; an empty one
            // changed nothing.
            state.damage_lost |= chunk.flags & frame::CHUNK_CORRUPTED != 0 || chunk.flags == 0;
            tracing::debug!(error = %err, "PipeWire: skipped a buffer");
            return;
        }
    };
    let layout = BufferLayout {
        offset: 0,
        stride,
        width: negotiated.width,
        height: negotiated.height,
    };
    let format = negotiated.format;
    let visible = frame::visible(crop, layout.width, layout.height);
    // What changed since the last picture; unknown after one passed over.
    let hint = frame::damage(&damage, visible).filter(|_| !state.damage_lost);
    // The copy is made into the spare image, an older picture, without
    // the slot's lock: the rows changed since it, and in this frame.
    let rows = frame::accumulate(state.spare_stale.take(), hint.clone());
    let spare = state.spare.take();
    let image = match frame::copy(
        &bytes[region],
        layout,
        format,
        visible,
        rows.as_deref(),
        spare,
    ) {
        Ok(image) => image,
        Err(err) => {
            state.damage_lost = true;
            tracing::debug!(error = %err, "PipeWire: skipped a malformed buffer");
            return;
        }
    };
    let (width, height, order) = (image.width, image.height, image.order);
    let mut latest = state.slot.latest.lock().unwrap_or_else(|e| e.into_inner());
    // Swapped in under the lock; the picture it replaces is the next spare.
    let replaced = latest.image.replace(image);
    let same_size = replaced
        .as_ref()
        .is_some_and(|p| (p.width, p.height, p.order) == (width, height, order));
    let hint = hint.filter(|_| same_size);
    let since = if latest.fresh {
        latest.changed.take()
    } else {
        Some(Vec::new())
    };
    latest.changed = frame::accumulate(since, hint.clone());
    latest.fresh = true;
    state.slot.arrived.notify_all();
    drop(latest);
    state.spare = replaced;
    state.spare_stale = hint;
    state.damage_lost = false;
}
