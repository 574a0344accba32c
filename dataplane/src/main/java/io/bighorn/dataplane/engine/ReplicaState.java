package io.bighorn.dataplane.engine;

/**
 * A replica as the engine reports it.
 *
 * @param reason why it is ERR (null otherwise)
 * @param revision its write revision when the engine last asked (at start)
 */
public record ReplicaState(String address, Mode mode, String reason, long revision) {}
