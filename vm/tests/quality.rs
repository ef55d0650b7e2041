//! Quality of the integer engine against the float reference (candle-transformers' quantized
//! llama on the same GGUF): top-1 next-token agreement, teacher-forced, over 60 prompts.

mod common;

use std::time::Instant;
use veritrace_vm::Engine;

const PROMPTS: &[&str] = &[
    "The capital of France is Paris, and the capital of Germany is Berlin.",
    "Once upon a time, in a small village at the edge of the forest, there lived an old woodcutter.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)",
    "Water boils at 100 degrees Celsius at sea level, but at higher altitudes it boils at lower temperatures.",
    "The mitochondria is known as the powerhouse of the cell because it produces energy.",
    "To make a cup of tea, first boil the water, then pour it over the tea bag and wait three minutes.",
    "In 1969, Neil Armstrong became the first person to walk on the Moon.",
    "The quick brown fox jumps over the lazy dog. This sentence contains every letter of the alphabet.",
    "Photosynthesis is the process by which green plants use sunlight to make food from carbon dioxide and water.",
    "Dear Sir or Madam, I am writing to apply for the position of software engineer at your company.",
    "The Great Wall of China is one of the most famous landmarks in the world.",
    "SELECT name, age FROM users WHERE age > 30 ORDER BY name;",
    "Machine learning is a field of artificial intelligence that gives computers the ability to learn from data.",
    "My favorite hobbies are reading books, playing the guitar, and hiking in the mountains.",
    "The Pacific Ocean is the largest and deepest of the Earth's oceans.",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
    "Shakespeare wrote many famous plays, including Hamlet, Macbeth, and Romeo and Juliet.",
    "The recipe calls for two cups of flour, one cup of sugar, three eggs, and a teaspoon of vanilla.",
    "Exercise regularly, eat a balanced diet, and get enough sleep to stay healthy.",
    "The stock market fell sharply on Monday as investors worried about rising interest rates.",
    "Rust is a systems programming language focused on safety, speed, and concurrency.",
    "The sun rises in the east and sets in the west.",
    "<|im_start|>user\nHow many legs does a spider have?<|im_end|>\n<|im_start|>assistant\nA spider has eight legs.<|im_end|>",
    "<|im_start|>user\nTranslate 'good morning' into Spanish.<|im_end|>\n<|im_start|>assistant\nBuenos días.<|im_end|>",
    "<|im_start|>user\nWhat is 12 times 12?<|im_end|>\n<|im_start|>assistant\n12 times 12 is 144.<|im_end|>",
    "<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\nRed, blue, and yellow.<|im_end|>",
    "<|im_start|>user\nWrite a haiku about autumn.<|im_end|>\n<|im_start|>assistant\nCrimson leaves falling,\nwhispers of the cooling wind,\nthe year breathes softly.<|im_end|>",
    "Albert Einstein developed the theory of relativity, one of the two pillars of modern physics.",
    "The human heart has four chambers: two atria and two ventricles.",
    "If you want to learn a new language, practice a little every day and speak with native speakers.",
    "The Amazon rainforest produces a large share of the world's oxygen and is home to millions of species.",
    "for (int i = 0; i < 10; i++) {\n    printf(\"%d\\n\", i);\n}",
    "Paris is famous for the Eiffel Tower, the Louvre museum, and its cafés.",
    "The train leaves the station at 8:15 in the morning and arrives at noon.",
    "Bees are important pollinators, and without them many crops would fail.",
    "A triangle has three sides, a square has four, and a pentagon has five.",
    "The Industrial Revolution began in Britain in the late eighteenth century.",
    "Please remember to turn off the lights when you leave the room.",
    "Mount Everest is the highest mountain on Earth, rising 8,849 meters above sea level.",
    "The library is open from nine in the morning until six in the evening, Monday through Friday.",
    "Chocolate is made from the roasted seeds of the cacao tree.",
    "The Roman Empire was one of the largest empires in ancient history.",
    "Good communication skills are essential in every workplace.",
    "The cat sat on the windowsill, watching the birds in the garden.",
    "Electric cars are becoming more popular as battery technology improves.",
    "import numpy as np\nx = np.linspace(0, 1, 100)\ny = np.sin(x)",
    "The speed of light in a vacuum is about 300,000 kilometers per second.",
    "She opened the letter slowly, afraid of what it might say.",
    "Vitamin C is found in oranges, strawberries, and many other fruits.",
    "The football match ended in a draw after ninety minutes of play.",
    "Democracy is a system of government in which power is held by the people.",
    "The old lighthouse stood alone on the rocky coast for more than a century.",
    "Saving money each month can help you prepare for unexpected expenses.",
    "Jupiter is the largest planet in our solar system and has dozens of moons.",
    "The museum's new exhibition features paintings from the Renaissance period.",
    "Wash your hands with soap and water for at least twenty seconds.",
    "Tokyo is the capital of Japan and one of the most populous cities in the world.",
    "The internet has changed the way people communicate, work, and learn.",
    "Honey never spoils; archaeologists have found edible honey in ancient Egyptian tombs.",
    "The meeting has been moved to Thursday afternoon because of the holiday.",
];

// About 5 minutes in release on 2 cores (the float reference runs one token at a time):
// `CARGO_TARGET_DIR=/work/target-vm cargo test --release -p veritrace-vm --test quality -- --ignored --nocapture`
#[test]
#[ignore = "slow (~5 min in release): run with --ignored"]
fn top1_agreement_with_float_reference() {
    let tk = common::tokenizer();
    let img = common::image();
    let mut eng = Engine::new(img);
    let mut fref = common::FloatRef::load();
    let (mut agree, mut total) = (0usize, 0usize);
    let (mut t_int, mut t_float) = (0f64, 0f64);
    for p in PROMPTS {
        let ids = tk.encode(p).unwrap();
        let t = Instant::now();
        let a = eng.teacher_forced_argmax(&ids).unwrap();
        t_int += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = fref.teacher_forced_argmax(&ids);
        t_float += t.elapsed().as_secs_f64();
        agree += a.iter().zip(&b).filter(|(x, y)| x == y).count();
        total += ids.len();
    }
    let pct = 100.0 * agree as f64 / total as f64;
    eprintln!(
        "top-1 agreement: {agree}/{total} = {pct:.2}% over {} prompts (integer {t_int:.1} s = {:.1} tok/s, float {t_float:.1} s)",
        PROMPTS.len(),
        total as f64 / t_int,
    );
    assert!(PROMPTS.len() >= 50);
    assert!(
        pct >= 95.0,
        "top-1 agreement {pct:.2}% is below the 95% target"
    );
}
