//! Task-by-task ordering of playbook output, as `ansible-playbook` prints it although hosts run
//! ahead of each other: each task of a play gets a block (in the order first reached) whose
//! lines are held back until every running host has passed it. Pure: it decides only where a
//! line goes and when held lines are released; it never formats or writes (the reporter does).

use std::collections::HashMap;

/// Identifies the n-th task of a given name a host reached, so a task name used twice in a
/// play gets its own banner both times.
pub type TaskKey = (String, usize);

/// What the writer prints, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out<L> {
    /// A task's banner (`TASK [name]` or `RUNNING HANDLER [name]`).
    Banner { task: String, handler: bool },
    /// A line that was held back for its task.
    Line(L),
}

/// Where a host's line about a task goes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Under the banner being printed: write it.
    Now,
    /// An earlier task (a host that started late): write it at once, naming its task.
    Late,
    /// A later task: hold it in this block (`TaskOrder::hold`).
    Held(usize),
}

/// One task of a play and the lines held back for it.
struct Block<L> {
    key: TaskKey,
    handler: bool,
    lines: Vec<L>,
}

/// The ordering state of one run. Lines are of any type `L` (the reporter's own).
pub struct TaskOrder<L> {
    /// The task each host is in now.
    current: HashMap<String, TaskKey>,
    /// How many times each host started a task of each name: (host, task) → count.
    starts: HashMap<(String, String), usize>,
    /// The tasks of this play in the order first reached, with their held lines.
    blocks: Vec<Block<L>>,
    block_of: HashMap<(usize, TaskKey), usize>,
    /// Hosts that start after the first tasks were printed (a later fork) form a new wave whose
    /// tasks are printed again after the earlier ones, as `ansible-playbook` prints batches.
    wave: usize,
    wave_of: HashMap<String, usize>,
    /// The block being printed: its lines go out as they come.
    head: usize,
    /// The block each host that started and has not finished is in.
    pos: HashMap<String, usize>,
    /// What is ready to be written, in order (`take_ready`).
    ready: Vec<Out<L>>,
}

impl<L> Default for TaskOrder<L> {
    fn default() -> Self {
        TaskOrder {
            current: HashMap::new(),
            starts: HashMap::new(),
            blocks: Vec::new(),
            block_of: HashMap::new(),
            wave: 0,
            wave_of: HashMap::new(),
            head: 0,
            pos: HashMap::new(),
            ready: Vec::new(),
        }
    }
}

impl<L> TaskOrder<L> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything ready to be written since the last call, in order.
    pub fn take_ready(&mut self) -> Vec<Out<L>> {
        std::mem::take(&mut self.ready)
    }

    /// A new play: what the last one held is released, task names count from zero again.
    pub fn new_play(&mut self) {
        self.flush();
        self.current.clear();
        self.starts.clear();
    }

    /// A host starts its next task named `task`.
    pub fn start_task(&mut self, host: &str, task: &str) -> TaskKey {
        let n = self
            .starts
            .entry((host.to_string(), task.to_string()))
            .or_insert(0);
        *n += 1;
        let key = (task.to_string(), *n);
        self.current.insert(host.to_string(), key.clone());
        key
    }

    /// A host enters the task it just started (`start_task`): its block, made if new.
    pub fn enter(&mut self, host: &str, key: TaskKey, handler: bool) {
        let b = self.block(host, key, handler);
        self.pos.insert(host.to_string(), b);
        self.advance();
    }

    /// A host with a fork holds the task being printed until it reaches its first task (hosts
    /// start their first tasks at slightly different times).
    pub fn host_start(&mut self, host: &str) {
        self.pos.entry(host.to_string()).or_insert(self.head);
    }

    /// A host finished: the tasks it held back may go out.
    pub fn host_done(&mut self, host: &str) {
        if self.pos.remove(host).is_some() {
            self.advance();
        }
    }

    /// The key of the task a result belongs to: the host's current task if the name matches
    /// (several results per task: loop items), else a start the engine did not announce.
    fn key_for(&mut self, host: &str, task: &str) -> TaskKey {
        match self.current.get(host) {
            Some(key) if key.0 == task => key.clone(),
            _ => self.start_task(host, task),
        }
    }

    /// The block of a task in `host`'s wave, made (last) when first reached; a block made as
    /// the one being printed gets its banner at once. A host's first task decides its wave:
    /// the newest one, unless that task was already printed for it.
    fn block(&mut self, host: &str, key: TaskKey, handler: bool) -> usize {
        let wave = match self.wave_of.get(host) {
            Some(w) => *w,
            None => {
                let passed = self
                    .block_of
                    .get(&(self.wave, key.clone()))
                    .is_some_and(|b| *b < self.head);
                if passed {
                    self.wave += 1;
                }
                self.wave_of.insert(host.to_string(), self.wave);
                self.wave
            }
        };
        if let Some(b) = self.block_of.get(&(wave, key.clone())) {
            return *b;
        }
        self.blocks.push(Block {
            key: key.clone(),
            handler,
            lines: Vec::new(),
        });
        let b = self.blocks.len() - 1;
        self.block_of.insert((wave, key), b);
        if b == self.head {
            self.banner(b);
        }
        b
    }

    /// The block a host's line about `task` belongs to (its current task, or one the engine
    /// did not announce, which the host is then in).
    pub fn locate(&mut self, host: &str, task: &str) -> usize {
        let announced = self.current.get(host).is_some_and(|k| k.0 == task);
        let key = self.key_for(host, task);
        let b = self.block(host, key, false);
        if !announced {
            self.pos.insert(host.to_string(), b);
            self.advance();
        }
        b
    }

    /// Where a line for block `b` goes now.
    pub fn route(&self, b: usize) -> Route {
        if b > self.head {
            Route::Held(b)
        } else if b < self.head {
            Route::Late
        } else {
            Route::Now
        }
    }

    /// The later block `host` is in, if its lines must be held (`None`: write them now).
    pub fn held_for(&self, host: &str) -> Option<usize> {
        self.pos.get(host).copied().filter(|b| *b > self.head)
    }

    /// Hold a line in block `b` until it is released (a block that is gone: ready now).
    pub fn hold(&mut self, b: usize, line: L) {
        match self.blocks.get_mut(b) {
            Some(block) => block.lines.push(line),
            None => self.ready.push(Out::Line(line)),
        }
    }

    /// Move on to the next blocks while no running host is still in the one being printed (or
    /// behind it): their banners and held lines go out in task order.
    fn advance(&mut self) {
        while self.head < self.blocks.len() && !self.pos.values().any(|b| *b <= self.head) {
            self.head += 1;
            self.release(self.head);
        }
    }

    /// Block `b` becomes the one being printed: its banner, then its held lines.
    fn release(&mut self, b: usize) {
        if b >= self.blocks.len() {
            return;
        }
        self.banner(b);
        let lines = std::mem::take(&mut self.blocks[b].lines);
        self.ready.extend(lines.into_iter().map(Out::Line));
    }

    fn banner(&mut self, b: usize) {
        let block = &self.blocks[b];
        self.ready.push(Out::Banner {
            task: block.key.0.clone(),
            handler: block.handler,
        });
    }

    /// End of a play (or of the run): everything held back, in task order.
    pub fn flush(&mut self) {
        while self.head < self.blocks.len() {
            self.head += 1;
            self.release(self.head);
        }
        self.blocks.clear();
        self.block_of.clear();
        self.wave = 0;
        self.wave_of.clear();
        self.pos.clear();
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Order = TaskOrder<String>;

    /// What the writer would print: banners as `== name` (`== H name` for handlers), lines as
    /// they are.
    fn shown(o: &mut Order) -> Vec<String> {
        o.take_ready()
            .into_iter()
            .map(|out| match out {
                Out::Banner { task, handler } => {
                    format!("== {}{task}", if handler { "H " } else { "" })
                }
                Out::Line(l) => l,
            })
            .collect()
    }

    /// A test run: the order and what the writer printed so far (`written`).
    struct Run {
        o: Order,
        written: Vec<String>,
    }

    impl Run {
        /// `hosts` started, nothing printed yet.
        fn new(hosts: &[&str]) -> Run {
            let mut o = Order::new();
            for h in hosts {
                o.host_start(h);
            }
            Run {
                o,
                written: Vec::new(),
            }
        }

        /// `host` starts `task` (not a handler).
        fn start(&mut self, host: &str, task: &str) -> &mut Run {
            let key = self.o.start_task(host, task);
            self.o.enter(host, key, false);
            self.written.extend(shown(&mut self.o));
            self
        }

        /// A host's line about `task`: written now, or held.
        fn line(&mut self, host: &str, task: &str) -> &mut Run {
            let b = self.o.locate(host, task);
            self.written.extend(shown(&mut self.o));
            let text = format!("{host}:{task}");
            match self.o.route(b) {
                Route::Now => self.written.push(text),
                Route::Late => self.written.push(format!("{text} (late)")),
                Route::Held(b) => self.o.hold(b, text),
            }
            self
        }

        /// `host` is done: what that releases is written.
        fn done(&mut self, host: &str) -> &mut Run {
            self.o.host_done(host);
            self.written.extend(shown(&mut self.o));
            self
        }
    }

    #[test]
    fn a_host_running_ahead_is_held_until_every_host_passed_the_task() {
        let mut r = Run::new(&["h1", "h2"]);
        r.start("h1", "a").line("h1", "a").start("h1", "b");
        r.line("h1", "b").done("h1");
        // h1 is done, but h2 has not reached `a`'s end: b stays held.
        assert_eq!(r.written, ["== a", "h1:a"]);
        r.start("h2", "a").line("h2", "a");
        assert_eq!(r.written, ["== a", "h1:a", "h2:a"]);
        r.start("h2", "b");
        // h2 left `a`: b's banner and h1's held line go out, then h2's line comes live.
        assert_eq!(r.written, ["== a", "h1:a", "h2:a", "== b", "h1:b"]);
        r.line("h2", "b").done("h2");
        assert_eq!(r.written, ["== a", "h1:a", "h2:a", "== b", "h1:b", "h2:b"]);
    }

    #[test]
    fn a_host_with_a_fork_holds_the_first_task_until_it_starts() {
        let mut r = Run::new(&["h1", "h2"]);
        r.start("h1", "a").start("h1", "b").line("h1", "b");
        // h2 has not started a task yet: it is still at `a`, so `b` is held.
        assert_eq!(r.written, ["== a"]);
        r.done("h2");
        assert_eq!(r.written, ["== a", "== b", "h1:b"]);
    }

    #[test]
    fn a_repeated_task_name_gets_its_own_block_and_handlers_their_banner() {
        let mut r = Run::new(&["h1"]);
        r.start("h1", "a").start("h1", "a");
        let key = r.o.start_task("h1", "restart");
        r.o.enter("h1", key, true);
        r.written.extend(shown(&mut r.o));
        assert_eq!(r.written, ["== a", "== a", "== H restart"]);
    }

    #[test]
    fn a_host_starting_after_its_task_was_printed_opens_a_new_wave() {
        let mut r = Run::new(&["h1"]);
        r.start("h1", "a")
            .line("h1", "a")
            .start("h1", "b")
            .done("h1");
        // A later batch (a fork freed by h1): its `a` is printed again, after `b`.
        r.o.host_start("h2");
        r.start("h2", "a").line("h2", "a");
        assert_eq!(r.written, ["== a", "h1:a", "== b", "== a", "h2:a"]);
    }

    #[test]
    fn a_line_for_a_task_already_printed_goes_out_at_once_named() {
        let mut r = Run::new(&["h1", "h2"]);
        r.start("h1", "a").start("h2", "a");
        r.start("h1", "b").start("h2", "b");
        assert_eq!(r.written, ["== a", "== b"]);
        // A line about `a`, already printed, goes out at once (the writer names its task).
        assert_eq!(r.o.route(0), Route::Late);
        // A task the engine did not announce is where h2 is now: held while h1 is in `b`.
        let x = r.o.locate("h2", "x");
        assert_eq!(r.o.route(x), Route::Held(2));
        assert_eq!((r.o.held_for("h2"), r.o.held_for("h1")), (Some(2), None));
        r.done("h1");
        assert_eq!(r.written, ["== a", "== b", "== x"]);
        assert_eq!(r.o.route(x), Route::Now);
    }

    #[test]
    fn flush_releases_everything_in_task_order_and_starts_over() {
        let mut r = Run::new(&["h1", "h2"]);
        r.start("h1", "a").start("h1", "b").line("h1", "b");
        r.start("h1", "c").line("h1", "c");
        assert_eq!(r.o.held_for("h1"), Some(2));
        r.o.new_play();
        r.written.extend(shown(&mut r.o));
        assert_eq!(r.written, ["== a", "== b", "h1:b", "== c", "h1:c"]);
        // A new play counts task names again and prints from its first task.
        r.o.host_start("h1");
        r.start("h1", "a");
        assert_eq!(r.written.last().map(String::as_str), Some("== a"));
        assert_eq!(r.o.start_task("h1", "a"), ("a".to_string(), 2));
    }
}
