/** Replica placement: a pure function from nodes, disks, replicas and settings to targets and reasons. */
package io.bighorn.manager.scheduler;
