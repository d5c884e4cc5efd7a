//! Where a camera's frames come from, as written in the configuration.

use std::path::PathBuf;

/// A camera source, parsed from its `source` string.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `rtsp://…`: an IP camera.
    Rtsp(String),
    /// `file:///…`: a video file, played at its own frame rate.
    File(PathBuf),
    /// `v4l2:///dev/videoN`: a local V4L2 device.
    V4l2(PathBuf),
    /// `gst:…`: a GStreamer pipeline ending in `appsink name=sink`.
    Gst(String),
}

impl Source {
    /// Parses a `source` string. The error is a sentence for a person and
    /// never repeats the string: it may hold the camera's address.
    pub fn parse(s: &str) -> Result<Source, String> {
        if let Some(rest) = s
            .strip_prefix("rtsp://")
            .or_else(|| s.strip_prefix("rtsps://"))
        {
            if rest.is_empty() || rest.starts_with('/') {
                return Err("an rtsp:// source needs a host".into());
            }
            Ok(Source::Rtsp(s.to_string()))
        } else if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(
                    "file:// needs an absolute path (file:///var/lib/anprd/clip.mp4)".into(),
                );
            }
            Ok(Source::File(PathBuf::from(path)))
        } else if let Some(path) = s.strip_prefix("v4l2://") {
            if !path.starts_with("/dev/") {
                return Err("v4l2:// needs a device path (v4l2:///dev/video0)".into());
            }
            Ok(Source::V4l2(PathBuf::from(path)))
        } else if let Some(pipeline) = s.strip_prefix("gst:") {
            let last = pipeline
                .rsplit('!')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>();
            if last.first() != Some(&"appsink") || !last.contains(&"name=sink") {
                return Err(
                    "a gst: pipeline must end in an appsink named sink (… ! appsink name=sink)"
                        .into(),
                );
            }
            Ok(Source::Gst(pipeline.trim().to_string()))
        } else {
            // Only a scheme from this list is named: text before a colon
            // may be the camera's host name ("camnorth:554/live").
            const KNOWN: &[&str] = &[
                "http", "https", "rtmp", "rtmps", "srt", "udp", "rtp", "tcp", "hls", "mms",
            ];
            let scheme = s
                .split_once("://")
                .map(|(scheme, _)| scheme.to_ascii_lowercase());
            let shown = match scheme {
                Some(scheme) if KNOWN.contains(&scheme.as_str()) => {
                    format!("unsupported scheme {scheme:?}")
                }
                Some(_) => "unsupported scheme".to_string(),
                None => "no scheme".to_string(),
            };
            Err(format!(
                "{shown}; expected rtsp://, file://, v4l2:// or gst:<pipeline>"
            ))
        }
    }

    /// A file plays once and ends; everything else is live and is reopened.
    pub fn ends_at_eof(&self) -> bool {
        matches!(self, Source::File(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_kind() {
        assert_eq!(
            Source::parse("rtsp://10.0.0.5/s1"),
            Ok(Source::Rtsp("rtsp://10.0.0.5/s1".into()))
        );
        assert_eq!(
            Source::parse("file:///a/b.mp4"),
            Ok(Source::File("/a/b.mp4".into()))
        );
        assert_eq!(
            Source::parse("v4l2:///dev/video0"),
            Ok(Source::V4l2("/dev/video0".into()))
        );
        assert_eq!(
            Source::parse("gst:videotestsrc ! videoconvert ! appsink name=sink"),
            Ok(Source::Gst(
                "videotestsrc ! videoconvert ! appsink name=sink".into()
            ))
        );
        assert!(Source::parse("file:///a.mp4").unwrap().ends_at_eof());
        assert!(!Source::parse("rtsp://cam/x").unwrap().ends_at_eof());
        assert_eq!(
            Source::parse("rtsps://10.0.0.5/s1"),
            Ok(Source::Rtsp("rtsps://10.0.0.5/s1".into()))
        );
    }

    #[test]
    fn refuses_mistakes_without_echoing_the_address() {
        for (bad, why) in [
            ("http://10.0.0.5/x", "unsupported scheme \"http\""),
            ("10.0.0.5", "no scheme"),
            ("file://relative.mp4", "absolute path"),
            ("v4l2://video0", "device path"),
            ("rtsp://", "needs a host"),
            ("rtsps:///s1", "needs a host"),
            ("camnorth:554/live", "no scheme"),
            ("camnorth://10.0.0.5/live", "unsupported scheme"),
            ("gst:videotestsrc ! fakesink", "appsink named sink"),
            (
                "gst:videotestsrc ! appsink name=other",
                "appsink named sink",
            ),
        ] {
            let err = Source::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("10.0.0.5"), "{bad}: {err}");
            assert!(!err.contains("camnorth"), "{bad}: {err}");
        }
    }
}
