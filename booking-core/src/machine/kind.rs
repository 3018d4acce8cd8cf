//! Data-free names for states and commands, so tables, errors and docs can speak of them.

use std::fmt;

/// A fieldless enum naming a machine's states or commands.
pub trait Kind: Copy + Eq + fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];

    /// The name, as written in `docs/state-machines.md` (the variant's name).
    fn name(self) -> &'static str;
}

/// Defines a fieldless enum, its [`Kind`] impl and `Display`.
macro_rules! define_kind {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident,)+ }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $crate::machine::Kind for $name {
            const ALL: &'static [Self] = &[$($name::$variant,)+];

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::machine::Kind::name(*self))
            }
        }
    };
}

pub(crate) use define_kind;

/// Implements [`StateMachine`](crate::machine::StateMachine) for an aggregate whose inherent
/// `apply` and `version` carry the logic, from its table written as `(From, Command, To)` rows.
macro_rules! impl_state_machine {
    (
        $machine:ident as $name:literal,
        states: $state:ident, commands: $command:ident / $command_kind:ident,
        state_kind: $get:expr,
        [$(($from:ident, $cmd:ident, $to:ident)),+ $(,)?]
    ) => {
        impl $crate::machine::StateMachine for $machine {
            type StateKind = $state;
            type Command = $command;
            type CommandKind = $command_kind;

            const NAME: &'static str = $name;

            const TRANSITIONS: &'static [($state, $command_kind, $state)] =
                &[$(($state::$from, $command_kind::$cmd, $state::$to)),+];

            fn state_kind(&self) -> $state {
                let get: fn(&$machine) -> $state = $get;
                get(self)
            }

            fn version(&self) -> u64 {
                $machine::version(self)
            }

            fn command_kind(command: &$command) -> $command_kind {
                command.kind()
            }

            fn apply(
                &self,
                command: $command,
                now: $crate::clock::Timestamp,
            ) -> Result<
                $crate::machine::Transition<Self>,
                $crate::machine::TransitionError<$state, $command_kind>,
            > {
                $machine::apply(self, command, now)
            }
        }
    };
}

pub(crate) use impl_state_machine;
