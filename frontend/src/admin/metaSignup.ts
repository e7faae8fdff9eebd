// Launching WhatsApp Embedded Signup in the browser: Meta's JavaScript SDK opens the
// signup popup (FB.login with the app's configuration id); the popup posts the session
// information (WABA id, phone number id) to this window, and the login callback brings
// the authorization code. Against the simulator the server names the simulator's
// stand-in SDK and origin instead of Meta's; everything else is the same.

export interface MetaAppConfig {
  ready: boolean;
  missing: string[];
  app_id: string | null;
  config_id: string | null;
  graph_api_version: string;
  sdk_url: string;
  dialog_origins: string[];
  simulated: boolean;
}

export interface SignupSession {
  code: string;
  waba_id: string;
  phone_number_id: string;
}

export type SignupOutcome =
  | { kind: "finished"; session: SignupSession }
  | { kind: "cancelled"; step: string | null }
  | { kind: "error"; message: string };

interface FbLoginResponse {
  status?: string;
  authResponse?: { code?: string } | null;
}

interface FbSdk {
  init(options: Record<string, unknown>): void;
  login(callback: (response: FbLoginResponse) => void, options: Record<string, unknown>): void;
}

declare global {
  interface Window {
    FB?: FbSdk;
  }
}

let loading: Promise<FbSdk> | null = null;

/** Load the SDK once (from Meta, or from the simulator) and initialise it with the app. */
export function loadSdk(config: MetaAppConfig): Promise<FbSdk> {
  if (!loading) {
    loading = new Promise<FbSdk>((resolve, reject) => {
      const script = document.createElement("script");
      script.src = config.sdk_url;
      script.async = true;
      script.onload = () => {
        if (!window.FB) return reject(new Error("the SDK loaded but defined no FB"));
        window.FB.init({ appId: config.app_id, autoLogAppEvents: true, xfbml: false, version: config.graph_api_version });
        resolve(window.FB);
      };
      script.onerror = () => {
        loading = null;
        reject(new Error(`could not load ${config.sdk_url}`));
      };
      document.body.appendChild(script);
    });
  }
  return loading;
}

/** The session information Meta posts as a JSON string: {type, event, data}. */
function sessionInfo(raw: unknown): { event: string; data: Record<string, string> } | null {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  const info = value as { type?: string; event?: string; data?: Record<string, string> } | null;
  if (!info || info.type !== "WA_EMBEDDED_SIGNUP" || !info.event) return null;
  return { event: info.event, data: info.data ?? {} };
}

/**
 * Open the signup popup; resolves when both the code and the session information have
 * come (or the admin cancelled, or Meta reported an error). Call from a click handler:
 * browsers only let a click open a popup.
 */
export function launchSignup(fb: FbSdk, config: MetaAppConfig): Promise<SignupOutcome> {
  return new Promise<SignupOutcome>((resolve) => {
    let code: string | null = null;
    let ids: { waba_id: string; phone_number_id: string } | null = null;
    let done = false;
    const finish = (outcome: SignupOutcome) => {
      if (done) return;
      done = true;
      window.removeEventListener("message", onMessage);
      resolve(outcome);
    };
    const maybeDone = () => {
      if (code && ids) finish({ kind: "finished", session: { code, ...ids } });
    };
    const onMessage = (event: MessageEvent) => {
      if (!config.dialog_origins.includes(event.origin)) return;
      const info = sessionInfo(event.data);
      if (!info) return;
      if (info.event === "FINISH" || info.event === "FINISH_ONLY_WABA") {
        ids = { waba_id: info.data.waba_id ?? "", phone_number_id: info.data.phone_number_id ?? "" };
        maybeDone();
      } else if (info.event === "CANCEL") {
        finish({ kind: "cancelled", step: info.data.current_step ?? null });
      } else if (info.event === "ERROR") {
        finish({ kind: "error", message: info.data.error_message ?? "Meta reported an error" });
      }
    };
    window.addEventListener("message", onMessage);
    fb.login(
      (response) => {
        const got = response?.authResponse?.code;
        if (got) {
          code = got;
          maybeDone();
        } else {
          // The session information may still say why (CANCEL); give it a moment.
          window.setTimeout(() => finish({ kind: "cancelled", step: null }), 1500);
        }
      },
      {
        config_id: config.config_id,
        response_type: "code",
        override_default_response_type: true,
        extras: { setup: {}, featureType: "", sessionInfoVersion: "3" },
      },
    );
  });
}
