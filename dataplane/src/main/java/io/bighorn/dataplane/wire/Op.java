package io.bighorn.dataplane.wire;

/** Message types. Handshake messages come first on every connection; the rest are requests and replies. */
enum Op {
    // handshake (see Handshake)
    HELLO(1),
    CHALLENGE(2),
    PROOF(3),
    READY(4),
    // data
    READ(16),
    WRITE(17),
    TRIM(18),
    WRITE_ZEROES(19),
    FLUSH(20),
    EXTENTS(21),
    // control (JSON payloads)
    INFO(32),
    ACCEPT_EPOCH(33),
    SNAPSHOT(34),
    SNAPSHOTS(35),
    DELETE_SNAPSHOT(36),
    PURGE(37),
    REVERT(38),
    EXPAND(39),
    // rebuild (JSON or LayerBlocks payloads)
    PREPARE_REBUILD(40),
    LAYER_DIGESTS(41),
    LAYER_READ(42),
    LAYER_WRITE(43),
    PARTIAL_BLOCKS(44),
    FINISH_REBUILD(45),
    // the engine's write-intent map (opaque bytes)
    PUT_INTENT(46),
    GET_INTENT(47),
    /** A rebuild target fetches blocks from the source replica itself. */
    PULL_LAYER(48),
    SYNC_LAYERS(49),
    /** Sent by the server with the error that made it drop the connection. */
    GOODBYE(64);

    private static final Op[] BY_CODE = new Op[256];

    static {
        for (Op op : values()) {
            BY_CODE[op.code] = op;
        }
    }

    private final int code;

    Op(int code) {
        this.code = code;
    }

    byte code() {
        return (byte) code;
    }

    static Op of(byte code) throws ProtocolException {
        Op op = BY_CODE[code & 0xff];
        if (op == null) {
            throw new ProtocolException("unknown message type " + (code & 0xff));
        }
        return op;
    }

    boolean handshake() {
        return code < READ.code;
    }
}
