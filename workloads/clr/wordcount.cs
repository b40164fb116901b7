// wordcount: writes a text corpus of its own, counts its words in
// Dictionaries on the thread pool and writes the sorted counts.
//
// The vocabulary is 16384 random lowercase words.  One unit = 1000 words of
// corpus (100 lines of 10 words, drawn with a skew towards the first words
// of the vocabulary), written for shard u mod T into that shard's part of a
// staging buffer of --mem MiB (the memory the workload holds) and appended
// to corpus-t.txt whenever the part fills up.  Then one work item per shard
// runs on the thread pool: it reads its shard back through the same open
// FileStream and counts its words in its own Dictionary<string, int>.  The
// counts are merged in shard order, sorted by count and then by word, and
// written to counts.txt.  The result folds counts.txt and every shard.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Threading;

namespace Binmig.Workloads
{
    static class WordCount
    {
        const int VocabularyWords = 16384, WordsPerUnit = 1000, WordsPerLine = 10;
        const int MaxWordBytes = 10, MaxUnitBytes = WordsPerUnit * (MaxWordBytes + 1);

        static readonly Spec spec = new Spec {
            Name = "wordcount",
            Summary = "Writes a text corpus, counts its words in Dictionaries on the thread\n" +
                      "pool, and writes the counts sorted.",
            Unit = "1000 words of corpus written (and later counted)",
            MemMeaning = "MiB of staging buffer for the corpus, shared out between the shards",
            Accepts = Accepts.Threads,
            DefaultWork = 200, DefaultMemMib = 4, DefaultThreads = 2, MemPerThread = true,
            RssOverheadMib = 28,
        };

        static int Main(string[] args)
        {
            return Wl.Run(spec, args, Run);
        }

        // One shard: its corpus file and its part of the staging buffer.
        sealed class Shard
        {
            public readonly string Name;
            public readonly FileStream File;
            readonly byte[][] chunks;
            readonly int[] used;
            int current;
            public Dictionary<string, int> Counts;
            public Exception Failure;

            public Shard(Options o, int index, byte[][] chunks)
            {
                Name = string.Format("corpus-{0}.txt", index);
                File = Wl.OpenNew(o, Name, 4096);
                this.chunks = chunks;
                used = new int[chunks.Length];
            }

            // Where the next unit's text goes: room for the largest unit.
            public byte[] Room(out int offset)
            {
                if (used[current] + MaxUnitBytes > chunks[current].Length) {
                    if (current + 1 == chunks.Length)
                        WriteOut();
                    else
                        current++;
                }
                offset = used[current];
                return chunks[current];
            }

            public void Commit(int bytes)
            {
                used[current] += bytes;
            }

            public void WriteOut()
            {
                for (int c = 0; c <= current; c++) {
                    File.Write(chunks[c], 0, used[c]);
                    used[c] = 0;
                }
                current = 0;
                File.Flush();
            }

            public void Count()
            {
                Counts = new Dictionary<string, int>(StringComparer.Ordinal);
                File.Seek(0, SeekOrigin.Begin);
                var reader = new StreamReader(File, Wl.Ascii, false, 64 * 1024);
                string line;
                var separators = new[] { ' ' };
                while ((line = reader.ReadLine()) != null) {
                    foreach (string word in line.Split(separators, StringSplitOptions.RemoveEmptyEntries)) {
                        int n;
                        Counts.TryGetValue(word, out n);
                        Counts[word] = n + 1;
                    }
                }
            }
        }

        static byte[][] MakeVocabulary(ulong seed)
        {
            ulong rng = Wl.Stream(seed, 1);
            var words = new byte[VocabularyWords][];
            for (int i = 0; i < words.Length; i++) {
                var w = new byte[2 + (int)(Wl.Rand(ref rng) % (MaxWordBytes - 1))];
                for (int k = 0; k < w.Length; k++)
                    w[k] = (byte)('a' + Wl.Rand(ref rng) % 26);
                words[i] = w;
            }
            return words;
        }

        // Writes unit's 1000 words into buf at offset; returns the length.
        static int WriteUnit(byte[][] vocabulary, ulong seed, ulong unit, byte[] buf, int offset)
        {
            ulong rng = Wl.Stream(seed, 1000000 + unit);
            int at = offset;
            for (int i = 0; i < WordsPerUnit; i++) {
                double u = (Wl.Rand(ref rng) >> 11) * (1.0 / (1UL << 53));
                byte[] w = vocabulary[(int)(VocabularyWords * u * u * u)];
                Buffer.BlockCopy(w, 0, buf, at, w.Length);
                at += w.Length;
                buf[at++] = (byte)((i + 1) % WordsPerLine == 0 ? '\n' : ' ');
            }
            return at - offset;
        }

        static ulong Run(Options o)
        {
            byte[][] vocabulary = MakeVocabulary(o.Seed);
            var staging = new ChunkedBuffer(o.MemMib, Wl.Stream(o.Seed, 0));
            int shardCount = (int)o.Threads, perShard = staging.Chunks.Length / shardCount;
            var shards = new Shard[shardCount];
            for (int s = 0; s < shardCount; s++) {
                var chunks = new byte[perShard][];
                Array.Copy(staging.Chunks, s * perShard, chunks, 0, perShard);
                shards[s] = new Shard(o, s, chunks);
            }
            var countsFile = Wl.OpenNew(o, "counts.txt", 4096);
            Wl.Ready();

            for (ulong unit = 0; unit < o.Limit || o.Extend(); unit++) {
                Shard shard = shards[unit % o.Threads];
                int offset;
                byte[] room = shard.Room(out offset);
                shard.Commit(WriteUnit(vocabulary, o.Seed, unit, room, offset));
                if (o.Flip && unit + 1 == o.FlipAt) {
                    // Out to the file first, then the last letter of the unit.
                    shard.WriteOut();
                    Wl.FlipFileByte(spec, shard.File, shard.File.Length - 2, shard.Name, o.FlipAt);
                }
            }
            foreach (var shard in shards)
                shard.WriteOut();
            if (o.Flip && o.FlipAt == 0) {
                // Nothing written yet at unit 0: corrupt the first letter.
                Wl.FlipFileByte(spec, shards[0].File, 0, shards[0].Name, 0);
            }

            using (var done = new CountdownEvent(shardCount)) {
                foreach (var shard in shards) {
                    Shard s = shard;
                    ThreadPool.QueueUserWorkItem(unused => {
                        try {
                            s.Count();
                        } catch (Exception e) {
                            s.Failure = e;
                        } finally {
                            done.Signal();
                        }
                    });
                }
                done.Wait();
            }
            var total = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var shard in shards) {
                if (shard.Failure != null)
                    throw shard.Failure;
                foreach (var pair in shard.Counts) {
                    int n;
                    total.TryGetValue(pair.Key, out n);
                    total[pair.Key] = n + pair.Value;
                }
            }
            var sorted = new List<KeyValuePair<string, int>>(total);
            sorted.Sort((a, b) => a.Value != b.Value ? b.Value.CompareTo(a.Value)
                                                     : string.CompareOrdinal(a.Key, b.Key));
            long words = 0;
            using (var writer = new StreamWriter(countsFile, Wl.Ascii, 64 * 1024, true)) {
                writer.NewLine = "\n";
                foreach (var pair in sorted) {
                    writer.Write(pair.Key);
                    writer.Write(' ');
                    writer.WriteLine(pair.Value);
                    words += pair.Value;
                }
            }
            Console.Error.WriteLine("wordcount: {0} words, {1} distinct", words, sorted.Count);

            var scratch = new byte[64 * 1024];
            ulong digest = Wl.FoldWord(Wl.FoldWord(0, (ulong)words), (ulong)sorted.Count);
            digest = Wl.FoldFile(digest, countsFile, scratch);
            foreach (var shard in shards) {
                digest = Wl.FoldFile(digest, shard.File, scratch);
                shard.File.Dispose();
            }
            countsFile.Dispose();
            return digest;
        }
    }
}
