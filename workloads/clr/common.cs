// What every CLR workload shares: the command line of the workload contract
// (workloads/README.md), the `ready` / `result` protocol, the checksum and the
// random number generator.  Mirrors workloads/native/common.[ch]: the checksum
// is the same fold64 function: for every little-endian 64-bit word w,
// h = g((h ^ w) * M) ^ K with M odd and g(x) = x ^ (x >> 29), which changes
// whenever any single word (so any single byte) of the input changes.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace Binmig.Workloads
{
    [Flags]
    enum Accepts { None = 0, Threads = 1, FileMib = 2 }

    enum ExitCode { Ok = 0, Mismatch = 1, Usage = 2, Failure = 3 }

    sealed class Spec
    {
        public string Name, Summary, Unit, MemMeaning, FileMeaning = "";
        public Accepts Accepts;
        public ulong DefaultWork, DefaultMemMib, MinMemMib = 1, DefaultThreads = 1, DefaultFileMib = 0;
        // Resident memory beyond --mem (Mono runtime, JIT, GC, buffers), in
        // MiB, measured on Debian 12: --rss R means --mem R - this.
        public ulong RssOverheadMib;
        // --mem is shared out between the threads, at least 1 MiB each.
        public bool MemPerThread = false;
    }

    sealed class UsageException : Exception
    {
        public UsageException(string message) : base(message) { }
    }

    sealed class Options
    {
        public const ulong MaxMemMib = 1UL << 17;
        public const ulong MaxThreads = 64;

        public ulong Work, MemMib, Threads, Seed = 1, FileMib;
        public bool Flip, ExpectSet;
        public ulong FlipAt, Expect;
        public string Dir;
        // --until PATH or null; with it, Work is one batch.
        public string Until;
        // Units to do: Work, raised a batch at a time by Extend.
        public ulong Limit;

        public static Options Parse(Spec spec, string[] args)
        {
            var o = new Options {
                Work = spec.DefaultWork, MemMib = spec.DefaultMemMib,
                Threads = spec.DefaultThreads, FileMib = spec.DefaultFileMib,
                Dir = Path.Combine(Path.GetTempPath(), "binmig-" + spec.Name),
            };
            bool memSet = false, rssSet = false;
            ulong rss = 0;
            for (int i = 0; i < args.Length; i++) {
                string arg = args[i], name = arg, value = null;
                if (arg == "--help" || arg == "-h") {
                    PrintHelp(spec);
                    Environment.Exit((int)ExitCode.Ok);
                }
                int eq = arg.IndexOf('=');
                if (eq > 0) {
                    name = arg.Substring(0, eq);
                    value = arg.Substring(eq + 1);
                } else if (i + 1 < args.Length) {
                    value = args[++i];
                }
                switch (name) {
                case "--work": o.Work = Number(name, value, false); break;
                case "--mem": o.MemMib = Number(name, value, false); memSet = true; break;
                case "--rss": rss = Number(name, value, false); rssSet = true; break;
                case "--seed": o.Seed = Number(name, value, false); break;
                case "--expect": o.Expect = Number(name, value, true); o.ExpectSet = true; break;
                case "--flip-at": o.FlipAt = Number(name, value, false); o.Flip = true; break;
                case "--dir":
                    if (string.IsNullOrEmpty(value))
                        throw new UsageException("--dir needs a path");
                    o.Dir = value;
                    break;
                case "--until":
                    if (string.IsNullOrEmpty(value))
                        throw new UsageException("--until needs a path");
                    o.Until = value;
                    break;
                case "--threads":
                    if ((spec.Accepts & Accepts.Threads) == 0)
                        throw new UsageException(spec.Name + " does not take --threads");
                    o.Threads = Number(name, value, false);
                    break;
                case "--file-mib":
                    if ((spec.Accepts & Accepts.FileMib) == 0)
                        throw new UsageException(spec.Name + " does not take --file-mib");
                    o.FileMib = Number(name, value, false);
                    break;
                default:
                    throw new UsageException("unknown option '" + arg + "'");
                }
            }
            if (memSet && rssSet)
                throw new UsageException("give --mem or --rss, not both");
            if (rssSet) {
                if (rss < spec.RssOverheadMib + spec.MinMemMib)
                    throw new UsageException(string.Format("--rss {0} is below the smallest size, {1} MiB",
                                                           rss, spec.RssOverheadMib + spec.MinMemMib));
                o.MemMib = rss - spec.RssOverheadMib;
            }
            if (o.MemMib < spec.MinMemMib || o.MemMib > MaxMemMib)
                throw new UsageException(string.Format("--mem must be between {0} and {1}", spec.MinMemMib, MaxMemMib));
            if (o.Threads < 1 || o.Threads > MaxThreads)
                throw new UsageException("--threads must be between 1 and " + MaxThreads);
            if (spec.MemPerThread && o.MemMib < o.Threads)
                throw new UsageException("--mem must give each thread at least 1 MiB");
            if ((spec.Accepts & Accepts.FileMib) != 0 && (o.FileMib < 1 || o.FileMib > MaxMemMib))
                throw new UsageException("--file-mib must be between 1 and " + MaxMemMib);
            if (o.Flip && o.FlipAt > o.Work)
                throw new UsageException(string.Format("--flip-at {0} is beyond --work {1}", o.FlipAt, o.Work));
            // Batches of nothing would poll the path in a busy loop.
            if (o.Until != null && o.Work == 0)
                throw new UsageException("--until needs a --work of at least 1");
            o.Limit = o.Work;
            return o;
        }

        // Called once the first Limit units are done.  Returns false when the
        // work is finished: always without --until, and with it once the path
        // exists (a file or a directory: what access(2) says in the native
        // workloads; checked per batch, never per unit).  Otherwise raises
        // Limit by a batch of Work units and returns true: the same
        // computation goes on, so a run that ends after M units computes, and
        // writes, what a run with --work M does.
        //
        // A path that never appears (a test that died, a forgotten process)
        // must not let the files grow until the disk is full: below
        // UntilReserveMib free (or 5% of the filesystem, if more) on the
        // filesystem of Dir the run finishes as if the path had appeared,
        // with a note on stderr, and its result is still the one of --work M.
        public bool Extend()
        {
            if (Until == null || File.Exists(Until) || Directory.Exists(Until))
                return false;
            ulong free, size;
            if (FreeSpace(Dir, out free, out size) && free < Math.Max(UntilReserveMib << 20, size / 20)) {
                Console.Error.WriteLine("--until: only {0} MiB left on the filesystem of {1}; finishing after {2} units",
                                        free >> 20, Dir, Limit);
                return false;
            }
            Limit += Work;
            return true;
        }

        const ulong UntilReserveMib = 1024;

        // statvfs(3): 64-bit fields on x86-64; f_frsize at 8, f_blocks at 16,
        // f_bavail at 32 (the space an unprivileged writer may still use).
        [DllImport("libc", SetLastError = true)]
        static extern int statvfs(string path, [Out] byte[] buf);

        static bool FreeSpace(string path, out ulong free, out ulong size)
        {
            var buf = new byte[256];
            free = size = 0;
            if (statvfs(path, buf) != 0)
                return false;
            ulong frsize = BitConverter.ToUInt64(buf, 8);
            size = BitConverter.ToUInt64(buf, 16) * frsize;
            free = BitConverter.ToUInt64(buf, 32) * frsize;
            return true;
        }

        static ulong Number(string name, string text, bool hex)
        {
            if (string.IsNullOrEmpty(text) || text[0] == '-')
                throw new UsageException(name + " needs a non-negative number");
            if (hex && (text.StartsWith("0x") || text.StartsWith("0X")))
                text = text.Substring(2);
            ulong v;
            var style = hex ? System.Globalization.NumberStyles.AllowHexSpecifier
                            : System.Globalization.NumberStyles.None;
            if (!ulong.TryParse(text, style, System.Globalization.CultureInfo.InvariantCulture, out v))
                throw new UsageException(name + ": bad number '" + text + "'");
            return v;
        }

        static void PrintHelp(Spec spec)
        {
            var w = Console.Out;
            w.WriteLine("usage: mono {0}.exe [options]\n{1}\n\noptions:", spec.Name, spec.Summary);
            w.WriteLine("  --work N         units of work, one unit = {0} (default {1})", spec.Unit, spec.DefaultWork);
            w.WriteLine("  --mem MIB        {0} (default {1}, at least {2})", spec.MemMeaning, spec.DefaultMemMib, spec.MinMemMib);
            w.WriteLine("  --rss MIB        size --mem so that the resident size is about MIB\n" +
                        "                   (--mem = MIB - {0})", spec.RssOverheadMib);
            if ((spec.Accepts & Accepts.FileMib) != 0)
                w.WriteLine("  --file-mib MIB   {0} (default {1})", spec.FileMeaning, spec.DefaultFileMib);
            if ((spec.Accepts & Accepts.Threads) != 0)
                w.WriteLine("  --threads N      worker threads (default {0})", spec.DefaultThreads);
            w.WriteLine("  --seed N         seed of all generated data (default 1)\n" +
                        "  --dir PATH       directory of its files, created if missing\n" +
                        "                   (default {0})\n" +
                        "  --until PATH     --work N becomes a batch: after every N units, finish if\n" +
                        "                   PATH exists, else go on with N more; prints `units M`\n" +
                        "                   (M = K*N), and the result and files of --work M\n" +
                        "                   (finishes early, with a note, when the filesystem of\n" +
                        "                   --dir has under 1 GiB or 5% free)\n" +
                        "  --expect HEX     exit 1 unless the result is HEX\n" +
                        "  --flip-at N      debug: flip one byte of a file it wrote after N units\n" +
                        "                   (N at most --work)\n" +
                        "  --help           this text\n\n" +
                        "Prints `ready` once initialised, then `result HEX` when done (with --until,\n" +
                        "`units M` just before it); the result covers the contents of every file it\n" +
                        "wrote.\n" +
                        "Exit codes: 0 ok, 1 result differs from --expect, 2 bad usage, 3 failure.",
                        Path.Combine(Path.GetTempPath(), "binmig-" + spec.Name));
        }
    }

    // Where the threads of a workload meet at the end of each batch: the last
    // one to arrive calls Options.Extend, once for all of them, so they agree
    // on one limit.  (Not System.Threading.Barrier: it lives in System.dll,
    // and the workloads reference mscorlib only.)  A thread that fails
    // leaves, so that the others do not wait for it, and the run ends at the
    // next meeting.
    sealed class BatchGate
    {
        readonly Options o;
        int members, arrived;
        ulong meeting;
        bool finished, failed;

        public BatchGate(Options o, int members)
        {
            this.o = o;
            this.members = members;
        }

        // Called by each thread when it has done its part of the units below
        // o.Limit.  Returns true when another batch follows (o.Limit is
        // raised), false when the work is finished.
        public bool Next()
        {
            lock (this) {
                ulong mine = meeting;
                if (++arrived == members)
                    Decide();
                while (meeting == mine)
                    Monitor.Wait(this);
                return !finished;
            }
        }

        public void Leave()
        {
            lock (this) {
                failed = true;
                if (--members == arrived && arrived > 0)
                    Decide();
            }
        }

        void Decide()
        {
            finished = failed || !o.Extend();
            arrived = 0;
            meeting++;
            Monitor.PulseAll(this);
        }
    }

    // Managed memory of a given size in 1 MiB arrays, filled with random
    // bytes so that it is resident.  1 MiB pieces rather than one array:
    // arrays are capped at 2 GiB, and Mono gives each large object its own
    // mapping, which costs a page per object.
    sealed class ChunkedBuffer
    {
        public const int ChunkBytes = Wl.Mib;
        public readonly byte[][] Chunks;

        public ChunkedBuffer(ulong mib, ulong seed)
        {
            Chunks = new byte[mib][];
            ulong rng = seed;
            for (ulong i = 0; i < mib; i++) {
                Chunks[i] = new byte[ChunkBytes];
                Wl.FillRandom(Chunks[i], ref rng);
            }
        }

        public long Length { get { return (long)Chunks.Length * ChunkBytes; } }

        // Block number index of blockBytes (a divisor of 1 MiB): its array
        // and its offset there.
        public byte[] Block(long index, int blockBytes, out int offset)
        {
            long at = index * blockBytes;
            offset = (int)(at % ChunkBytes);
            return Chunks[at / ChunkBytes];
        }
    }

    static class Wl
    {
        public const int Mib = 1 << 20;

        // Runs a workload's body with the shared error handling.
        public static int Run(Spec spec, string[] args, Func<Options, ulong> body)
        {
            Options o;
            try {
                o = Options.Parse(spec, args);
            } catch (UsageException e) {
                Console.Error.WriteLine("{0}: {1} (try --help)", spec.Name, e.Message);
                return (int)ExitCode.Usage;
            }
            ulong result;
            try {
                Directory.CreateDirectory(o.Dir);
                result = body(o);
            } catch (Exception e) {
                if (e is AggregateException)
                    e = ((AggregateException)e).Flatten().InnerExceptions[0];
                Console.Error.WriteLine("{0}: {1}", spec.Name, e.Message);
                return (int)ExitCode.Failure;
            }
            if (o.Until != null)
                Console.Out.WriteLine("units {0}", o.Limit);
            Console.Out.WriteLine("result {0:x16}", result);
            Console.Out.Flush();
            if (o.ExpectSet && o.Expect != result) {
                Console.Error.WriteLine("{0}: result {1:x16} differs from the expected {2:x16}",
                                        spec.Name, result, o.Expect);
                return (int)ExitCode.Mismatch;
            }
            return (int)ExitCode.Ok;
        }

        public static void Ready()
        {
            Console.Out.WriteLine("ready");
            Console.Out.Flush();
        }

        public static ulong FoldWord(ulong h, ulong w)
        {
            h = (h ^ w) * 0x9E3779B97F4A7C15UL;
            return (h ^ (h >> 29)) ^ 0x243F6A8885A308D3UL;
        }

        // Folds the words of buf[off, off+len) into h, without the length:
        // a stream folded in pieces whose lengths are multiples of 8 gives
        // the same as one piece.
        public static unsafe ulong FoldWords(ulong h, byte[] buf, int off, int len)
        {
            if (len <= 0)
                return h;
            fixed (byte* start = &buf[off]) {
                byte* p = start;
                int left = len;
                for (; left >= 8; p += 8, left -= 8)
                    h = FoldWord(h, *(ulong*)p);
                if (left > 0) {
                    ulong w = 0;
                    for (int i = 0; i < left; i++)
                        w |= (ulong)p[i] << (8 * i);
                    h = FoldWord(h, w);
                }
            }
            return h;
        }

        // The same as wl_fold in native/common.c.
        public static ulong Fold(ulong h, byte[] buf, int off, int len)
        {
            return FoldWord(FoldWords(h, buf, off, len), (ulong)len);
        }

        // Folds the whole contents of a file, read through the caller's
        // open stream, whose position is restored afterwards.
        public static ulong FoldFile(ulong h, FileStream fs, byte[] scratch)
        {
            long saved = fs.Position, total = 0;
            fs.Seek(0, SeekOrigin.Begin);
            int chunk = scratch.Length & ~7;
            for (;;) {
                int got = ReadFull(fs, scratch, 0, chunk);
                h = FoldWords(h, scratch, 0, got);
                total += got;
                if (got < chunk)
                    break;
            }
            fs.Seek(saved, SeekOrigin.Begin);
            return FoldWord(h, (ulong)total);
        }

        // Reads until count bytes or the end of the file.
        public static int ReadFull(Stream s, byte[] buf, int off, int count)
        {
            int done = 0;
            while (done < count) {
                int n = s.Read(buf, off + done, count - done);
                if (n == 0)
                    break;
                done += n;
            }
            return done;
        }

        // Flips (xor 0xff) the byte at offset of the file behind fs, through
        // fs, keeping its position; says so on stderr.
        public static void FlipFileByte(Spec spec, FileStream fs, long offset, string what, ulong afterUnits)
        {
            long saved = fs.Position;
            fs.Flush();
            fs.Seek(offset, SeekOrigin.Begin);
            int b = fs.ReadByte();
            if (b < 0)
                throw new IOException("cannot flip beyond the end of " + what);
            fs.Seek(offset, SeekOrigin.Begin);
            fs.WriteByte((byte)(b ^ 0xff));
            fs.Flush();
            fs.Seek(saved, SeekOrigin.Begin);
            Console.Error.WriteLine("{0}: flipped byte {1} of {2} after {3} units", spec.Name, offset, what, afterUnits);
        }

        // SplitMix64, as wl_rand in native/common.h.
        public static ulong Rand(ref ulong state)
        {
            ulong z = (state += 0x9E3779B97F4A7C15UL);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public static ulong Stream(ulong seed, ulong stream)
        {
            ulong s = seed ^ (stream * 0xD1B54A32D192ED03UL);
            return Rand(ref s);
        }

        // Fills buf with random bytes; also what makes fresh managed arrays
        // resident (Mono maps large ones untouched).
        public static unsafe void FillRandom(byte[] buf, ref ulong rng)
        {
            if (buf.Length == 0)
                return;
            fixed (byte* start = buf) {
                int words = buf.Length / 8;
                ulong* p = (ulong*)start;
                for (int i = 0; i < words; i++)
                    p[i] = Rand(ref rng);
                for (int i = words * 8; i < buf.Length; i++)
                    start[i] = (byte)Rand(ref rng);
            }
        }

        public static FileStream OpenNew(Options o, string name, int bufferSize)
        {
            return new FileStream(Path.Combine(o.Dir, name), FileMode.Create, FileAccess.ReadWrite,
                                  FileShare.ReadWrite, bufferSize);
        }

        public static readonly Encoding Ascii = new ASCIIEncoding();
    }
}
