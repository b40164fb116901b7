// logappend: several threads append structured log lines to their own log
// files with periodic flushes, and read them back to verify them.
//
// Thread t of --threads T owns log-t.txt, open twice for the whole run: once
// for appending and once for reading back.  It writes the lines whose
// sequence number is t mod T (one unit = one line, --work lines in all),
// flushes every 64 of its lines, and every 256 lines reads back what it
// wrote since the last check plus a random stretch of the recent past,
// comparing both with the tail of the log it keeps in memory: a ring of
// --mem/T MiB, the memory the workload holds.  Each thread's digest folds
// what it read back and any mismatches; the result folds the digests in
// thread order, the totals (kept under a lock) and every log file.  With
// --until the lines are dealt out a batch at a time and the threads meet at
// a BatchGate after each batch, which sets one limit for all of them; a
// thread's file and digest depend only on the lines it writes, so its work
// is that of --work M whatever the batches.
using System;
using System.IO;
using System.Text;
using System.Threading;

namespace Binmig.Workloads
{
    sealed class LogWriter
    {
        const int FlushEvery = 64, VerifyEvery = 256, RandomSpan = 4096;

        static readonly string[] Levels = { "DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR" };
        static readonly string[] Components = { "net", "disk", "cache", "sched", "auth", "db", "rpc" };
        static readonly string[] Words = {
            "request", "served", "from", "peer", "block", "evicted", "retry", "after", "timeout",
            "checkpoint", "written", "queue", "drained", "lease", "renewed", "for", "session",
            "index", "rebuilt", "compaction", "started", "finished", "slow", "path", "taken",
        };

        readonly int index;
        readonly Options o;
        readonly LogAppend.Totals totals;
        readonly FileStream writer, reader;
        readonly byte[][] ring; // the last ringBytes of the log, at offset mod ringBytes
        readonly long ringBytes;
        readonly byte[] readBuffer = new byte[64 * 1024];
        readonly StringBuilder line = new StringBuilder(256);
        ulong rng;
        long written, verified; // bytes in the file, bytes checked in order
        public ulong Digest;

        public LogWriter(int index, Options o, LogAppend.Totals totals, byte[][] ring)
        {
            this.index = index;
            this.o = o;
            this.totals = totals;
            this.ring = ring;
            ringBytes = (long)ring.Length * ChunkedBuffer.ChunkBytes;
            rng = Wl.Stream(o.Seed, 1000 + (ulong)index);
            string name = string.Format("log-{0}.txt", index);
            writer = Wl.OpenNew(o, name, 8192);
            reader = new FileStream(Path.Combine(o.Dir, name), FileMode.Open, FileAccess.Read,
                                    FileShare.ReadWrite, 4096);
            Append(Wl.Ascii.GetBytes(string.Format("# log {0} of {1}, seed {2}\n", index, o.Threads, o.Seed)));
            writer.Flush();
            if (o.Flip && o.FlipAt == 0 && index == 0)
                Flip(0);
        }

        public string Name { get { return "log-" + index + ".txt"; } }

        void Append(byte[] bytes)
        {
            writer.Write(bytes, 0, bytes.Length);
            for (int done = 0; done < bytes.Length;) {
                long at = (written + done) % ringBytes;
                byte[] chunk = ring[at / ChunkedBuffer.ChunkBytes];
                int off = (int)(at % ChunkedBuffer.ChunkBytes);
                int n = Math.Min(bytes.Length - done, chunk.Length - off);
                Buffer.BlockCopy(bytes, done, chunk, off, n);
                done += n;
            }
            written += bytes.Length;
        }

        byte[] Format(ulong seq)
        {
            ulong r = Wl.Stream(o.Seed, seq);
            line.Clear();
            line.AppendFormat("{0:D10} t{1} {2} {3} key={4:x16} value={5}",
                              seq, index, Levels[r % (ulong)Levels.Length],
                              Components[(r >> 8) % (ulong)Components.Length],
                              Wl.Rand(ref r), Wl.Rand(ref r) % 1000000);
            int words = 3 + (int)(Wl.Rand(ref r) % 6);
            for (int i = 0; i < words; i++)
                line.Append(' ').Append(Words[Wl.Rand(ref r) % (ulong)Words.Length]);
            line.Append('\n');
            return Wl.Ascii.GetBytes(line.ToString());
        }

        // Reads [from, from+count) back through the reading handle, compares
        // it with the ring and folds it into the digest.
        void Check(long from, int count)
        {
            reader.Seek(from, SeekOrigin.Begin);
            if (Wl.ReadFull(reader, readBuffer, 0, count) != count)
                throw new IOException(Name + " is shorter than what was written");
            long mismatches = 0;
            for (int i = 0; i < count; i++) {
                long at = (from + i) % ringBytes;
                if (readBuffer[i] != ring[at / ChunkedBuffer.ChunkBytes][at % ChunkedBuffer.ChunkBytes])
                    mismatches++;
            }
            Digest = Wl.Fold(Digest, readBuffer, 0, count);
            Digest = Wl.FoldWord(Digest, (ulong)mismatches);
            lock (totals) {
                totals.BytesChecked += count;
                totals.Mismatches += mismatches;
            }
        }

        void Verify()
        {
            writer.Flush();
            while (verified < written) {
                int count = (int)Math.Min(readBuffer.Length, written - verified);
                Check(verified, count);
                verified += count;
            }
            long oldest = Math.Max(0, written - ringBytes);
            if (written - oldest > RandomSpan)
                Check(oldest + (long)(Wl.Rand(ref rng) % (ulong)(written - oldest - RandomSpan)), RandomSpan);
        }

        void Flip(ulong afterUnits)
        {
            // The last character before the newline of the last line.
            Wl.FlipFileByte(LogAppend.spec, writer, written - 2, Name, afterUnits);
        }

        public void Run(BatchGate gate)
        {
            ulong threads = o.Threads, mine = 0, seq = (ulong)index;
            do {
                for (ulong end = o.Limit; seq < end; seq += threads) {
                    Append(Format(seq));
                    mine++;
                    if (o.Flip && seq + 1 == o.FlipAt)
                        Flip(o.FlipAt);
                    if (mine % FlushEvery == 0)
                        writer.Flush();
                    if (mine % VerifyEvery == 0)
                        Verify();
                }
            } while (gate.Next());
            Verify();
        }

        public ulong Finish(ulong digest)
        {
            digest = Wl.FoldFile(Wl.FoldWord(digest, Digest), writer, readBuffer);
            writer.Dispose();
            reader.Dispose();
            return digest;
        }
    }

    static class LogAppend
    {
        public static readonly Spec spec = new Spec {
            Name = "logappend",
            Summary = "Threads append structured log lines to their own files with periodic\n" +
                      "flushes, and read them back to verify them against an in-memory tail.",
            Unit = "one log line appended (lines are dealt to the threads in turn)",
            MemMeaning = "MiB of in-memory log tail, shared out between the threads",
            Accepts = Accepts.Threads,
            DefaultWork = 20000, DefaultMemMib = 4, DefaultThreads = 2, MemPerThread = true,
            RssOverheadMib = 23,
        };

        public sealed class Totals
        {
            public long BytesChecked, Mismatches;
        }

        static int Main(string[] args)
        {
            return Wl.Run(spec, args, Append);
        }

        static ulong Append(Options o)
        {
            var tail = new ChunkedBuffer(o.MemMib, Wl.Stream(o.Seed, 0));
            int threads = (int)o.Threads, perThread = tail.Chunks.Length / threads;
            var totals = new Totals();
            var writers = new LogWriter[threads];
            for (int t = 0; t < threads; t++) {
                var ring = new byte[perThread][];
                Array.Copy(tail.Chunks, t * perThread, ring, 0, perThread);
                writers[t] = new LogWriter(t, o, totals, ring);
            }
            Wl.Ready();

            var workers = new Thread[threads];
            var gate = new BatchGate(o, threads);
            Exception failure = null;
            for (int t = 0; t < threads; t++) {
                LogWriter w = writers[t];
                workers[t] = new Thread(() => {
                    try {
                        w.Run(gate);
                    } catch (Exception e) {
                        lock (totals)
                            failure = failure ?? e;
                        gate.Leave();
                    }
                });
                workers[t].Start();
            }
            foreach (var worker in workers)
                worker.Join();
            if (failure != null)
                throw failure;

            ulong digest = Wl.FoldWord(Wl.FoldWord(0, (ulong)totals.BytesChecked), (ulong)totals.Mismatches);
            foreach (var w in writers)
                digest = w.Finish(digest);
            if (totals.Mismatches != 0)
                Console.Error.WriteLine("logappend: {0} bytes read back differ from what was written", totals.Mismatches);
            return digest;
        }
    }
}
