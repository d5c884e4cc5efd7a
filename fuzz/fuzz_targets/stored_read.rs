//! Any bytes as a stored spool value and as a read's payload: the sealed
//! envelope, the spool frame and the JSON payload refuse garbage cleanly.
#![no_main]

use anprd::seal::Sealer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sealer = Sealer::with_key(&[0x5a; 32]);
    if let Ok(value) = sealer.open(7, data) {
        let _ = anprd::spool::frame::decode(&value);
    }
    let _ = Sealer::clear().open(7, data);
    if let Ok(entry) = anprd::spool::frame::decode(data) {
        let _ = anprd::record::Read::from_payload(&entry.payload);
    }
    if let Ok(read) = anprd::record::Read::from_payload(data) {
        // What parses must survive a round trip through the spool.
        let frame = anprd::spool::frame::encode(&read);
        if let Ok(frame) = frame {
            let sealed = sealer.seal(9, frame.clone());
            assert_eq!(&*sealer.open(9, &sealed).unwrap(), &frame[..]);
        }
    }
});
