package io.bighorn.backup;

/**
 * What deleting a backup did.
 *
 * @param blocksRemoved blocks no remaining backup referenced, now deleted
 * @param blocksLeft blocks the volume keeps
 * @param gcSkipped why unreferenced blocks were left in place (null if they were collected)
 */
public record DeleteResult(String backup, long blocksRemoved, long blocksLeft, String gcSkipped) {}
