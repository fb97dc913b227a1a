//! Building blocks of the administration pages — tables, detail lists and forms — rendered by
//! three shared templates, so every list, detail page and form looks and behaves alike
//! (labels, error placement, keyboard order).

use askama::Template;

use crate::forms::FieldErrors;
use crate::keys::Choice;
use crate::view::Layout;

/// A link shown as a button or in a table cell.
pub struct Link {
    pub href: String,
    pub label: String,
}

impl Link {
    pub fn new(href: String, label: &str) -> Self {
        Self {
            href,
            label: label.into(),
        }
    }
}

pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: None,
        }
    }

    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: Some(href.into()),
        }
    }
}

pub struct Table {
    pub caption: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    /// Shown instead of an empty table.
    pub empty: String,
}

impl Table {
    pub fn new(
        caption: &str,
        headers: Vec<&'static str>,
        rows: Vec<Vec<Cell>>,
        empty: &str,
    ) -> Self {
        Self {
            caption: caption.into(),
            headers,
            rows,
            empty: empty.into(),
        }
    }
}

/// One input of a form.
pub struct Field {
    pub name: &'static str,
    pub label: String,
    /// `text`, `password`, `email`, `date`, `url`, `textarea`, `select`, `checkboxes`,
    /// `radios` or `hidden`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Choice>,
    pub help: String,
    pub required: bool,
    pub autocomplete: &'static str,
    pub error: Option<String>,
}

impl Field {
    pub fn new(name: &'static str, label: impl Into<String>, kind: &'static str) -> Self {
        Self {
            name,
            label: label.into(),
            kind,
            value: String::new(),
            options: Vec::new(),
            help: String::new(),
            required: false,
            autocomplete: "off",
            error: None,
        }
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    pub fn options(mut self, options: Vec<Choice>) -> Self {
        self.options = options;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn autocomplete(mut self, token: &'static str) -> Self {
        self.autocomplete = token;
        self
    }
}

/// A form posting to the console, with its CSRF field added by the template.
pub struct FormSpec {
    pub title: String,
    pub action: String,
    /// `post` for changes (with the CSRF field), `get` for searches.
    pub method: &'static str,
    pub submit: String,
    pub fields: Vec<Field>,
    pub error: Option<String>,
    /// A destructive action: the button is styled as such.
    pub danger: bool,
    /// A small form (one button, or a field and a button) laid out on one line.
    pub inline: bool,
}

impl FormSpec {
    pub fn new(
        title: impl Into<String>,
        action: impl Into<String>,
        submit: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            action: action.into(),
            method: "post",
            submit: submit.into(),
            fields: Vec::new(),
            error: None,
            danger: false,
            inline: false,
        }
    }

    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// A search form: its fields go into the URL, so it carries no CSRF token.
    pub fn search(mut self) -> Self {
        self.method = "get";
        self
    }

    pub fn inline(mut self) -> Self {
        self.inline = true;
        self
    }

    pub fn danger(mut self) -> Self {
        self.danger = true;
        self
    }

    /// Puts errors next to their fields; the rest on top of the form.
    pub fn with_errors(mut self, errors: &FieldErrors) -> Self {
        for f in &mut self.fields {
            if let Some(e) = errors.get(f.name) {
                f.error = Some(e.to_string());
            }
        }
        self.error = errors.general.clone();
        self
    }
}

/// Choices for a `<select>` or checkboxes, with the given values selected.
pub fn choices(items: Vec<(String, String)>, selected: &[String]) -> Vec<Choice> {
    items
        .into_iter()
        .map(|(value, label)| Choice {
            selected: selected.contains(&value),
            value,
            label,
        })
        .collect()
}

/// A list page: actions, an optional filter or create form, a table and paging links.
#[derive(Template)]
#[template(path = "console/list.html")]
pub struct ListPage {
    pub layout: Layout,
    pub title: String,
    pub intro: String,
    pub actions: Vec<Link>,
    pub forms: Vec<FormSpec>,
    pub table: Table,
    pub next: Option<String>,
    pub first_page: Option<String>,
}

impl ListPage {
    /// A list without actions, forms or paging links; the pages that have them set them.
    pub fn new(layout: Layout, title: &str, intro: &str, table: Table) -> Self {
        Self {
            layout,
            title: title.into(),
            intro: intro.into(),
            actions: Vec::new(),
            forms: Vec::new(),
            table,
            next: None,
            first_page: None,
        }
    }

    /// The links to the next and the first page.
    pub fn paged(mut self, (next, first_page): (Option<String>, Option<String>)) -> Self {
        self.next = next;
        self.first_page = first_page;
        self
    }
}

/// A detail page: labelled values, then sections of tables and forms.
#[derive(Template)]
#[template(path = "console/detail.html")]
pub struct DetailPage {
    pub layout: Layout,
    pub title: String,
    pub back: Link,
    pub facts: Vec<(String, String)>,
    pub tables: Vec<Table>,
    pub forms: Vec<FormSpec>,
    pub error: Option<String>,
}

impl DetailPage {
    /// A page of facts alone; tables, forms and an error are set by the pages that have them.
    pub fn new(
        layout: Layout,
        title: impl Into<String>,
        back: Link,
        facts: Vec<(String, String)>,
    ) -> Self {
        Self {
            layout,
            title: title.into(),
            back,
            facts,
            tables: Vec::new(),
            forms: Vec::new(),
            error: None,
        }
    }
}

/// A labelled value of a detail page.
pub fn fact(label: &str, value: impl Into<String>) -> (String, String) {
    (label.to_string(), value.into())
}

/// A page with one form.
#[derive(Template)]
#[template(path = "console/form.html")]
pub struct FormPage {
    pub layout: Layout,
    pub back: Link,
    pub intro: String,
    pub form: FormSpec,
}

/// A secret shown once, with a copy button (new client secrets).
#[derive(Template)]
#[template(path = "console/secret.html")]
pub struct SecretPage {
    pub layout: Layout,
    pub title: String,
    pub label: String,
    pub secret: String,
    pub facts: Vec<(String, String)>,
    pub next: Link,
}
