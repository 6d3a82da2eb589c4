//! From a viewer's frame pixels to this machine's desktop coordinates.

use lookout_protocol::MonitorInfo;

/// Maps `(x, y)` in the pixel space of frames of `frame_size` to the desktop
/// position on `monitor`, scaling when frames and monitor differ in size and
/// clamping to the monitor so a viewer can never move the pointer onto
/// another monitor or off-screen.
pub fn frame_to_desktop(
    monitor: &MonitorInfo,
    frame_size: (u32, u32),
    (x, y): (i32, i32),
) -> (i32, i32) {
    (
        axis(monitor.x, monitor.width, frame_size.0, x),
        axis(monitor.y, monitor.height, frame_size.1, y),
    )
}

fn axis(origin: i32, monitor_len: u32, frame_len: u32, v: i32) -> i32 {
    let monitor_len = i64::from(monitor_len.max(1));
    let frame_len = i64::from(frame_len.max(1));
    // Round to the nearest desktop pixel, then clamp into the monitor.
    let scaled = (i64::from(v) * monitor_len * 2 + frame_len) / (frame_len * 2);
    let clamped = scaled.clamp(0, monitor_len - 1);
    i32::try_from(i64::from(origin) + clamped).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(x: i32, y: i32, width: u32, height: u32) -> MonitorInfo {
        MonitorInfo {
            id: 0,
            name: "m".into(),
            x,
            y,
            width,
            height,
            primary: true,
            all: false,
        }
    }

    #[test]
    fn same_size_frames_map_one_to_one_with_the_origin_added() {
        let m = monitor(1920, 0, 1280, 720);
        assert_eq!(frame_to_desktop(&m, (1280, 720), (0, 0)), (1920, 0));
        assert_eq!(frame_to_desktop(&m, (1280, 720), (100, 200)), (2020, 200));
        assert_eq!(frame_to_desktop(&m, (1280, 720), (1279, 719)), (3199, 719));
    }

    #[test]
    fn downscaled_frames_are_scaled_up() {
        let m = monitor(0, 0, 1920, 1080);
        assert_eq!(frame_to_desktop(&m, (960, 540), (480, 270)), (960, 540));
        assert_eq!(frame_to_desktop(&m, (960, 540), (959, 539)), (1918, 1078));
    }

    #[test]
    fn positions_outside_are_clamped_to_the_monitor() {
        let m = monitor(-1280, 100, 1280, 1024);
        assert_eq!(frame_to_desktop(&m, (1280, 1024), (-50, -7)), (-1280, 100));
        assert_eq!(frame_to_desktop(&m, (1280, 1024), (5000, 5000)), (-1, 1123));
        assert_eq!(
            frame_to_desktop(&m, (1280, 1024), (i32::MAX, i32::MIN)),
            (-1, 100)
        );
    }

    #[test]
    fn degenerate_sizes_do_not_divide_by_zero() {
        let m = monitor(0, 0, 0, 0);
        assert_eq!(frame_to_desktop(&m, (0, 0), (10, 10)), (0, 0));
    }
}
