/** SGR colours used on a terminal (ECMA-48 §8.3.117). */
export type Colour = "red" | "green" | "yellow" | "cyan" | "dim" | "bold";

const SGR: Readonly<Record<Colour, number>> = { red: 31, green: 32, yellow: 33, cyan: 36, dim: 2, bold: 1 };

/** Paints text for people: with colours, or as is (a pipe, a file, NO_COLOR). */
export interface TerminalPaint {
  (colour: Colour, text: string): string;
}

/**
 * Colours only where they help: on a terminal, unless NO_COLOR is set to a non-empty value
 * (https://no-color.org). Everything else gets plain text, never escape sequences.
 */
export function terminalPaint(options: { isTty: boolean; noColor: string | undefined }): TerminalPaint {
  const on = options.isTty && !options.noColor;
  return (colour, text) => (on ? `\u001b[${SGR[colour]}m${text}\u001b[0m` : text);
}

// eslint-disable-next-line no-control-regex -- control characters are what terminalSafe removes
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * What a visitor or a server sent (paths, reasons) made safe to print on a terminal: C0 and C1
 * control characters and DEL become `\xNN`, so that no escape sequence can move the cursor,
 * retitle the window or hide a line.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Local wall-clock time as HH:MM:SS, as ngrok and cloudflared print it. */
export function clockTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
