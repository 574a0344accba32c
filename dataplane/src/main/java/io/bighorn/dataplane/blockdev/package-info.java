/** The seams of the data plane: what every block device (replica, engine, frontend) shares. */
package io.bighorn.dataplane.blockdev;
