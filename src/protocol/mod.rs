//! RESP2/RESP3 and inline-command codec (to be written).
